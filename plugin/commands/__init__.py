"""One module per `pilotgate` sub-command family; plugin/cli.py lists them all in one place."""
