# Problem titles (RFC 9457 `title`) in nynorsk, keyed by the problem's stable `code`, and the
# reasons of `weak_password` (`weak_password-<reason>`, joined into `detail`).
# One `key = text` per line, as in nb.ftl and en.ftl; a test checks every key is in all three.

malformed_request = Ugyldig førespurnad.
body_too_large = Førespurnaden er for stor.
unsupported_media_type = Førespurnaden må vere JSON.
method_not_allowed = Metoden er ikkje tillaten for denne adressa.
validation_failed = Ugyldig verdi i skjemaet.
invalid_credentials = Feil brukarnamn eller passord.
too_many_attempts = For mange forsøk. Vent litt og prøv igjen.
code_entry_locked = For mange feil kodar. Det er sperra for å skrive inn kode ei stund.
resend_too_soon = Vent litt før du ber om ein ny kode.
resend_limit = Du har bede om for mange nye kodar. Logg inn på nytt seinare.
sms_limit = Det er sendt for mange SMS-ar. Prøv igjen seinare.
invalid_code = Feil kode.
challenge_expired = Koden har gått ut eller er brukt. Start på nytt.
unauthenticated = Du må logge inn.
session_expired = Økta har gått ut. Logg inn på nytt.
session_revoked = Økta er avslutta av omsyn til tryggleiken. Logg inn på nytt.
weak_password = Passordet oppfyller ikkje krava.
wrong_password = Feil passord.
password_change_required = Du må byte passord før du kan halde fram.
forbidden = Du har ikkje tilgang til dette.
not_found = Fann ikkje ressursen.
conflict = Noko vart endra samtidig. Prøv igjen.
sms_unavailable = Vi får ikkje sendt SMS akkurat no. Prøv igjen om litt.
sms_country_not_allowed = SMS kan ikkje sendast til eit nummer i dette landet. Kontakt kundesenteret.
service_unavailable = Tenesta er mellombels utilgjengeleg. Prøv igjen om litt.
internal_error = Noko gjekk gale hos oss.
home_office_not_enabled = Kontoen din er ikkje aktivert for heimekontorløysinga.
buypass_unavailable = Vi får ikkje kontakt med Buypass akkurat no. Prøv igjen om litt.
totp_enrolment_expired = Registreringa av autentiseringsappen har gått ut eller er avbroten. Start på nytt.
totp_not_enrolled = Du har ingen autentiseringsapp registrert.
totp_unavailable = Autentiseringsapp kan ikkje brukast akkurat no. Bruk SMS-kode.
passkeys_unavailable = Passnøklar kan ikkje brukast akkurat no. Bruk SMS-kode.
passkey_enrolment_expired = Registreringa av passnøkkelen har gått ut eller er avbroten. Start på nytt.
passkey_rejected = Passnøkkelen kunne ikkje godkjennast. Prøv igjen.
step_up_required = Stadfest først at det er deg, med passnøkkel eller autentiseringsapp.
no_second_factor = Kontoen har ingen passnøkkel eller autentiseringsapp å stadfesta med.
second_factor_required = Kontoen din har passnøkkel eller autentiseringsapp. Stadfest med den, eller med ein gjenopprettingskode, for å setje nytt passord.

weak_password-too_short = Passordet må ha minst 12 teikn.
weak_password-too_long = Passordet kan ha høgst 128 teikn.
weak_password-common = Passordet er for vanleg og lett å gjette.
weak_password-contains_username = Passordet kan ikkje innehalde brukarnamnet.
ambiguous_serial = Serienummeret er registrert hos fleire utferdarar. Slå opp med utferdar og serienummer.
