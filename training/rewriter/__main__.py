import sys

from seedance.training.rewriter.cli import main

sys.exit(main())
