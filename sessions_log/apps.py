from django.apps import AppConfig


class SessionsLogConfig(AppConfig):
    default_auto_field = 'django.db.models.BigAutoField'
    name = 'sessions_log'
