import sys

from seedance.training.text_encoder.train import main

sys.exit(main())
