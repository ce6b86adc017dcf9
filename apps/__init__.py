"""Runnable programs: `python -m apps.train_<method> --flagfile=apps/configs/<config>.cfg`."""
