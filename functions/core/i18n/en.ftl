# Problem titles (RFC 9457 `title`) in English, keyed by the problem's stable `code`, and the
# reasons of `weak_password` (`weak_password-<reason>`, joined into `detail`).
# One `key = text` per line, as in nb.ftl and nn.ftl; a test checks every key is in all three.

malformed_request = The request is malformed.
body_too_large = The request body is too large.
unsupported_media_type = The request body must be JSON.
method_not_allowed = The method is not allowed for this resource.
validation_failed = A field has an invalid value.
invalid_credentials = Wrong username or password.
too_many_attempts = Too many attempts. Wait a little and try again.
code_entry_locked = Too many wrong codes. Code entry is locked for a while.
resend_too_soon = Wait a little before asking for a new code.
resend_limit = Too many new codes requested. Log in again later.
sms_limit = Too many text messages have been sent. Try again later.
invalid_code = Wrong code.
challenge_expired = The code has expired or been used. Start again.
unauthenticated = You must log in.
session_expired = The session has expired. Log in again.
session_revoked = The session was ended for security reasons. Log in again.
weak_password = The password does not meet the requirements.
wrong_password = Wrong password.
password_change_required = You must change your password before you continue.
forbidden = You do not have access to this.
not_found = Not found.
conflict = Something changed at the same time. Try again.
sms_unavailable = Text messages cannot be sent right now. Try again shortly.
sms_country_not_allowed = Text messages cannot be sent to a number in this country. Contact the customer centre.
service_unavailable = The service is temporarily unavailable. Try again shortly.
internal_error = Something went wrong on our side.
home_office_not_enabled = Your account is not activated for the home-office service.
buypass_unavailable = Buypass cannot be reached right now. Try again shortly.
totp_enrolment_expired = The authenticator app setup has expired or was cancelled. Start again.
totp_not_enrolled = No authenticator app is registered.
totp_unavailable = Authenticator apps cannot be used right now. Use an SMS code.
passkeys_unavailable = Passkeys cannot be used right now. Use an SMS code.
passkey_enrolment_expired = The passkey setup has expired or was cancelled. Start again.
passkey_rejected = The passkey could not be accepted. Try again.
step_up_required = Confirm it is you with your passkey or authenticator app first.
no_second_factor = This account has no passkey or authenticator app to confirm with.
second_factor_required = Your account has a passkey or an authenticator app. Confirm with it, or with a recovery code, to set a new password.

weak_password-too_short = The password must have at least 12 characters.
weak_password-too_long = The password can have at most 128 characters.
weak_password-common = The password is too common and easy to guess.
weak_password-contains_username = The password cannot contain the username.
ambiguous_serial = The serial is registered under more than one issuer. Look it up by issuer and serial.
