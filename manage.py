#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""
import os
import secrets
import sys

# Commands that only read the models and migration files: they sign nothing and serve
# nothing, so they need no SECRET_KEY or ALLOWED_HOSTS, and a developer (or a CI step)
# may run them without the production environment. Every other command, like the web
# servers, still refuses to start with DEBUG off and no SECRET_KEY.
SCHEMA_ONLY = {"makemigrations", "showmigrations", "sqlmigrate"}


def main():
    """Run administrative tasks."""
    os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings')
    if len(sys.argv) > 1 and sys.argv[1] in SCHEMA_ONLY:
        os.environ.setdefault('SECRET_KEY', secrets.token_urlsafe(50))  # thrown away at exit
        os.environ.setdefault('ALLOWED_HOSTS', 'localhost')
        # Nor the delivery and cache they would run with: the runtime checks (console
        # SMS, local-memory cache...) refuse a service, not a look at the migrations.
        if '--skip-checks' not in sys.argv:
            sys.argv.append('--skip-checks')
    try:
        from django.core.management import execute_from_command_line
    except ImportError as exc:
        raise ImportError(
            "Couldn't import Django. Are you sure it's installed and "
            "available on your PYTHONPATH environment variable? Did you "
            "forget to activate a virtual environment?"
        ) from exc
    execute_from_command_line(sys.argv)


if __name__ == '__main__':
    main()
