#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    # Offline tools (verify_release) run on anyone's machine: no SECRET_KEY, DEBUG or hub configuration needed.
    offline = len(sys.argv) > 1 and sys.argv[1] in {"verify_release"}
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings_verify" if offline else "portal.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
