# Problem titles (RFC 9457 `title`) in bokmål, keyed by the problem's stable `code`, and the
# reasons of `weak_password` (`weak_password-<reason>`, joined into `detail`).
# One `key = text` per line, as in nn.ftl and en.ftl; a test checks every key is in all three.

malformed_request = Ugyldig forespørsel.
body_too_large = Forespørselen er for stor.
unsupported_media_type = Forespørselen må være JSON.
method_not_allowed = Metoden er ikke tillatt for denne adressen.
validation_failed = Ugyldig verdi i skjemaet.
invalid_credentials = Feil brukernavn eller passord.
too_many_attempts = For mange forsøk. Vent litt og prøv igjen.
code_entry_locked = For mange feil koder. Kodeinnlegging er sperret en stund.
resend_too_soon = Vent litt før du ber om en ny kode.
resend_limit = Du har bedt om for mange nye koder. Logg inn på nytt senere.
sms_limit = Det er sendt for mange SMS. Prøv igjen senere.
invalid_code = Feil kode.
challenge_expired = Koden er utløpt eller brukt. Start på nytt.
unauthenticated = Du må logge inn.
session_expired = Økten er utløpt. Logg inn på nytt.
session_revoked = Økten er avsluttet av sikkerhetshensyn. Logg inn på nytt.
weak_password = Passordet oppfyller ikke kravene.
wrong_password = Feil passord.
password_change_required = Du må bytte passord før du kan fortsette.
forbidden = Du har ikke tilgang til dette.
not_found = Fant ikke ressursen.
conflict = Noe ble endret samtidig. Prøv igjen.
sms_unavailable = Vi får ikke sendt SMS akkurat nå. Prøv igjen om litt.
sms_country_not_allowed = SMS kan ikke sendes til et nummer i dette landet. Kontakt kundesenteret.
service_unavailable = Tjenesten er midlertidig utilgjengelig. Prøv igjen om litt.
internal_error = Noe gikk galt hos oss.
home_office_not_enabled = Kontoen din er ikke aktivert for hjemmekontorløsningen.
buypass_unavailable = Vi får ikke kontakt med Buypass akkurat nå. Prøv igjen om litt.
totp_enrolment_expired = Registreringen av autentiseringsappen er utløpt eller avbrutt. Start på nytt.
totp_not_enrolled = Du har ingen autentiseringsapp registrert.
totp_unavailable = Autentiseringsapp kan ikke brukes akkurat nå. Bruk SMS-kode.
passkeys_unavailable = Passnøkler kan ikke brukes akkurat nå. Bruk SMS-kode.
passkey_enrolment_expired = Registreringen av passnøkkelen er utløpt eller avbrutt. Start på nytt.
passkey_rejected = Passnøkkelen kunne ikke godkjennes. Prøv igjen.
step_up_required = Bekreft først at det er deg, med passnøkkel eller autentiseringsapp.
no_second_factor = Kontoen har ingen passnøkkel eller autentiseringsapp å bekrefte med.
second_factor_required = Kontoen din har passnøkkel eller autentiseringsapp. Bekreft med den, eller med en gjenopprettingskode, for å sette nytt passord.

weak_password-too_short = Passordet må ha minst 12 tegn.
weak_password-too_long = Passordet kan ha høyst 128 tegn.
weak_password-common = Passordet er for vanlig og lett å gjette.
weak_password-contains_username = Passordet kan ikke inneholde brukernavnet.
ambiguous_serial = Serienummeret er registrert hos flere utstedere. Slå opp med utsteder og serienummer.
