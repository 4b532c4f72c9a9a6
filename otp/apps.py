from django.apps import AppConfig
from django.core import checks

from otp.checks import check_codes_not_logged, check_sms_sender, check_sms_sender_deploy


class OtpConfig(AppConfig):
    default_auto_field = 'django.db.models.BigAutoField'
    name = 'otp'

    def ready(self) -> None:
        checks.register(check_sms_sender)
        checks.register(check_codes_not_logged)
        checks.register(check_sms_sender_deploy, checks.Tags.security, deploy=True)
