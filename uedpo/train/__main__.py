"""``python -m uedpo.train`` = ``uedpo-train``."""

from uedpo.train.cli import main

raise SystemExit(main())
