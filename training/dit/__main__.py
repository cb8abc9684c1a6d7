import sys

from seedance.training.dit.train import main

sys.exit(main())
