import sys

from seedance.training.vae.train import main

sys.exit(main())
