from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("auth/signup", views.SignupView.as_view(), name="signup"),
    path("auth/signup/verify", views.SignupVerifyView.as_view(), name="signup-verify"),
    path("auth/otp", views.OtpRequestView.as_view(), name="otp-request"),
    path("auth/otp/verify", views.OtpVerifyView.as_view(), name="otp-verify"),
    path("auth/google", views.GoogleView.as_view(), name="google"),
    path("auth/token/refresh", views.TokenRefreshView.as_view(), name="token-refresh"),
    path("auth/signout", views.SignOutView.as_view(), name="signout"),
    path("delivery/twilio/status", views.TwilioStatusCallbackView.as_view(), name="delivery-twilio-status"),
    path("me", views.MeView.as_view(), name="me"),
    path("me/email/verify", views.MeVerifyEmailView.as_view(), name="me-verify-email"),
    path("me/identities", views.IdentitiesView.as_view(), name="identities"),
    path("me/identities/<str:identity_id>", views.IdentityDetailView.as_view(), name="identity-detail"),
    path("me/sessions", views.SessionsView.as_view(), name="sessions"),
    path("me/sessions/<str:session_id>", views.SessionDetailView.as_view(), name="session-detail"),
]
