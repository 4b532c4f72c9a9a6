from django.apps import AppConfig


class AuthenticatorConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "authenticator"

    def ready(self) -> None:
        from django.core import checks

        from authenticator.checks import check_broker, check_shared_cache, check_sms_guard, check_tokenizer_transport
        from authenticator.firebase import check_firebase_configuration

        checks.register(check_firebase_configuration)
        checks.register(check_shared_cache)
        checks.register(check_tokenizer_transport)
        checks.register(check_sms_guard)
        checks.register(check_broker)
