"""`python -m kt_twostage` is the `kt-twostage` command."""

import sys

from kt_twostage.cli import main

sys.exit(main())
