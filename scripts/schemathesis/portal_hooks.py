"""Schemathesis hooks for the Hjemmekontor portal (loaded by scripts/schemathesis.sh).

What they do, and why:

* Sign-in for authenticated operations. Every such operation has its own pool of accounts
  (created by the script with the test crate's portal-fixture), so what one operation does to an account (wrong
  passwords start its backoff, wrong codes lock its code entry, logout ends its session, a
  password change ends the others) never blocks another. The hooks sign in like a user: password,
  the code from the local SMS outbox (GET /dev/sms), verify; and sign in again when a session
  ended (401 with our token, a logout, a rotated-away refresh token). An account whose SMS
  allowance is used up hands over to the next one in its pool.

* Addresses. portal-local limits password failures per source address (30 per 10 minutes). The
  hooks' own sign-ins come from 127.0.0.2, and each operation's generated requests from an
  address of its own (127.0.1.N), as if from different clients, so the login operation's 30
  wrong passwords do not turn every later password check of every other operation into a 429.

* Success paths. Random data never knows a password, a code or a live challenge, so some
  generated cases get real ones put in before they are sent: the account's password
  (changePassword, startPhoneChange, startTotpEnrolment, removeTotp, startPasskeyEnrolment,
  removePasskey, generateRecoveryCodes), a live challenge and its
  code (verifySmsCode, resendSmsCode, resetPassword, confirmPhoneChange), a code from the
  authenticator app (confirmTotpEnrolment, stepUp). An account with an app needs a step-up
  before its app can be removed: removeTotp's injection sets one up and steps up with it. Schemathesis re-classifies a case after these edits,
  and checks the answers (200 with token and cookie, 204, the enrolment's secret and QR code…)
  against the contract like any other. What a success changes (password, mobile number) is
  remembered for the next sign-in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import struct
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

import schemathesis
import urllib3.connectionpool

BASE = urllib.parse.urlsplit(os.environ.get("PORTAL_BASE_URL", "http://127.0.0.1:8080"))
GATEWAY_KEY = os.environ.get("PORTAL_GATEWAY_KEY", "")
PASSWORD = "schemathesis korrekt hest batteri"
REFRESH_COOKIE = "__Host-hk_refresh"
HOOK_ADDRESS = "127.0.0.2"
# What the hooks put into cases and what came back, one line each (scripts/schemathesis.sh
# keeps it in target/schemathesis/).
LOG_PATH = os.environ.get("PORTAL_HOOKS_LOG")
_log_lock = threading.Lock()


def log(line: str) -> None:
    if LOG_PATH:
        with _log_lock, open(LOG_PATH, "a", encoding="utf-8") as f:
            f.write(line + "\n")

# How each secured operation is authenticated.
BEARER = {
    "logout",
    "getAccount",
    "setAccountLanguage",
    "changePassword",
    "startPhoneChange",
    "confirmPhoneChange",
    "getTotpStatus",
    "startTotpEnrolment",
    "removeTotp",
    "confirmTotpEnrolment",
    "startBuypassRegistration",
    "listSessions",
    "endSession",
    "endOtherSessions",
    "listSecurityEvents",
    "reportNotMe",
    "listPasskeys",
    "startPasskeyEnrolment",
    "confirmPasskeyEnrolment",
    "removePasskey",
    "startStepUp",
    "stepUp",
    "getRecoveryCodes",
    "generateRecoveryCodes",
}
REFRESH = {"refreshSession"}
GATEWAY = {"lookupGatewayCertificate", "lookupGatewayCertificateBySerial"}

# Accounts per operation: more where sign-ins are used up quickly (10 SMS per account per hour).
POOL_SIZES = {
    "logout": 4,
    "getAccount": 1,
    "setAccountLanguage": 1,
    "changePassword": 2,
    "startPhoneChange": 2,
    "confirmPhoneChange": 2,
    "getTotpStatus": 1,
    "startTotpEnrolment": 2,
    "removeTotp": 1,
    "confirmTotpEnrolment": 2,
    "startBuypassRegistration": 1,
    "listSessions": 1,
    "endSession": 1,
    "endOtherSessions": 1,
    "listSecurityEvents": 1,
    "listPasskeys": 1,
    # A real password starts an enrolment (creation options checked against the contract);
    # wrong ones count as failed logins.
    "startPasskeyEnrolment": 2,
    "confirmPasskeyEnrolment": 1,
    "removePasskey": 2,
    "getRecoveryCodes": 1,
    # A real password generates codes (checked against the contract); wrong ones count as
    # failed logins.
    "generateRecoveryCodes": 2,
    # A real password locks the account down (password change required): one account a success.
    "reportNotMe": 4,
    "startStepUp": 1,
    # Its account gets an authenticator app on the first injection; wrong codes lock its code
    # entry for an hour, so a second account takes over.
    "stepUp": 2,
    "refreshSession": 3,
    "verifySmsCode": 2,
    "resendSmsCode": 2,
    # A real login challenge now and then, so the status answers 200 and not only 410.
    "smsDeliveryStatus": 1,
    "resetPassword": 2,
    # Registers a smartcard with the stand-in Buypass, so the gateway lookup finds an active serial.
    "lookupGatewayCertificate": 1,
}

# Generated requests of each operation come from their own address (see the module doc).
OPERATION_IDS = sorted(
    [
        "login", "forgotPassword", "resetPassword", "resendSmsCode", "verifySmsCode", "smsDeliveryStatus", "refreshSession",
        "logout", "getAccount", "changePassword", "startPhoneChange", "confirmPhoneChange", "verifyTotpCode",
        "getTotpStatus", "startTotpEnrolment", "removeTotp", "confirmTotpEnrolment", "setAccountLanguage",
        "startBuypassRegistration", "buypassCallback", "lookupGatewayCertificate",
        "lookupGatewayCertificateBySerial", "devSmsOutbox", "listSessions", "endSession",
        "endOtherSessions", "listSecurityEvents", "reportNotMe", "verifyPasskey", "listPasskeys",
        "startPasskeyEnrolment", "confirmPasskeyEnrolment", "removePasskey",
        "devGatewayEvents", "startStepUp", "stepUp",
        "devGatewayEvents", "verifyRecoveryCode", "getRecoveryCodes", "generateRecoveryCodes",
    ]
)


def slug(operation_id: str) -> str:
    return re.sub(r"[^a-z0-9]", "", operation_id.lower())[:40]


def accounts() -> list[tuple[str, str]]:
    """(username, mobile) of every account the hooks use, for the script to create."""
    out = []
    n = 0
    for op in sorted(POOL_SIZES):
        for i in range(POOL_SIZES[op]):
            out.append((f"st-{slug(op)}-{i}", f"+4748{n:06d}"))
            n += 1
    return out


# ---- plain HTTP from the hooks' own address ----------------------------------------------------


@dataclass
class Answer:
    status: int
    body: object
    set_cookie: str | None


def call(method: str, path: str, body: object = None, headers: dict[str, str] | None = None) -> Answer:
    conn = http.client.HTTPConnection(BASE.hostname, BASE.port, timeout=30, source_address=(HOOK_ADDRESS, 0))
    try:
        sent = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body)
            sent["content-type"] = "application/json"
        conn.request(method, path, body=data, headers=sent)
        response = conn.getresponse()
        raw = response.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode("utf-8", "replace")
        return Answer(response.status, parsed, response.getheader("set-cookie"))
    finally:
        conn.close()


def newest_code(mobile: str) -> str:
    answer = call("GET", "/dev/sms")
    for message in answer.body or []:
        if message.get("to") == mobile:
            found = re.search(r"(?<!\d)(\d{6})(?!\d)", message.get("body", ""))
            if found:
                return found.group(1)
    raise RuntimeError(f"no code in the outbox for {mobile}")


def totp_now(secret_b32: str, steps_ahead: int = 0) -> str:
    """RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps (`steps_ahead` later: the server accepts
    one step of drift, and a step already used is refused)."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    step = int(time.time()) // 30 + steps_ahead
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


# ---- accounts, sessions, pools -----------------------------------------------------------------


@dataclass
class Account:
    username: str
    mobile: str
    password: str = PASSWORD
    # SMS allowance used up, or otherwise unable to sign in for now.
    spent: bool = False
    # The authenticator app the hooks set up on it, if any (base32 secret).
    totp_secret: str | None = None


@dataclass
class Session:
    account: Account
    access_token: str
    cookie: str


class CannotSignIn(Exception):
    pass


def open_challenge(account: Account) -> tuple[str, str]:
    """Logs in with the password; returns (challenge_id, code from the SMS)."""
    login = call("POST", "/v1/auth/login", {"username": account.username, "password": account.password})
    if login.status != 200:
        raise CannotSignIn(f"{account.username}: login answered {login.status} {login.body}")
    challenge = login.body["challenge_id"]
    if "totp" in login.body.get("methods", []):
        # An authenticator app was set up by confirmTotpEnrolment: ask for the SMS instead.
        resend = call("POST", "/v1/auth/sms/resend", {"challenge_id": challenge})
        if resend.status != 200:
            raise CannotSignIn(f"{account.username}: SMS instead of app answered {resend.status}")
    return challenge, newest_code(account.mobile)


def sign_in(account: Account) -> Session:
    challenge, code = open_challenge(account)
    verify = call("POST", "/v1/auth/sms/verify", {"challenge_id": challenge, "code": code})
    if verify.status != 200 or not verify.set_cookie:
        raise CannotSignIn(f"{account.username}: verify answered {verify.status} {verify.body}")
    return Session(account, verify.body["access_token"], verify.set_cookie.split(";")[0].split("=", 1)[1])


@dataclass
class Pool:
    operation: str
    accounts: list[Account]
    session: Session | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)
    next_index: int = 0

    def current(self) -> Session:
        with self.lock:
            if self.session is None:
                self.session = self._sign_in()
            return self.session

    def _sign_in(self) -> Session:
        errors = []
        for _ in range(len(self.accounts)):
            account = self.accounts[self.next_index % len(self.accounts)]
            if not account.spent:
                try:
                    return sign_in(account)
                except CannotSignIn as e:
                    errors.append(str(e))
                    account.spent = True
            self.next_index += 1
        raise CannotSignIn(f"{self.operation}: no account of the pool can sign in: {errors}")

    def account(self) -> Account:
        """The account a fresh challenge is opened for (challenge pools)."""
        with self.lock:
            for _ in range(len(self.accounts)):
                account = self.accounts[self.next_index % len(self.accounts)]
                if not account.spent:
                    return account
                self.next_index += 1
        raise CannotSignIn(f"{self.operation}: every account of the pool is spent")

    def invalidate(self, session: Session) -> None:
        with self.lock:
            if self.session is session:
                self.session = None


POOLS: dict[str, Pool] = {}
for _username, _mobile in accounts():
    _op = next(op for op in POOL_SIZES if _username.startswith(f"st-{slug(op)}-"))
    POOLS.setdefault(_op, Pool(_op, [])).accounts.append(Account(_username, _mobile))


_card_lock = threading.Lock()
_card: list[tuple[str, str]] = []


def registered_card() -> tuple[str, str] | None:
    """Registers a smartcard for the gateway pool's account through the stand-in Buypass (as a
    browser would: start with the password, the provider's page, the smartcard method, the
    callback with the binding cookie) and waits for it to be active. Once; (issuer id, serial),
    or None if it cannot."""
    with _card_lock:
        if _card:
            return _card[0]
        session = POOLS["lookupGatewayCertificate"].current()
        bearer = {"authorization": f"Bearer {session.access_token}"}
        start = call("POST", "/v1/homeoffice/buypass/start", {"password": session.account.password}, bearer)
        if start.status != 200 or not start.set_cookie:
            return None
        binding = start.set_cookie.split(";")[0]
        page_url = urllib.parse.urlsplit(start.body["authorization_url"])
        page = call("GET", f"{page_url.path}?{page_url.query}")
        request_id = re.search(r'name="request" value="([^"]+)"', str(page.body))
        if not request_id:
            return None
        form = urllib.parse.urlencode({"request": request_id.group(1), "method": "sc", "holder": "schemathesis"})
        conn = http.client.HTTPConnection(BASE.hostname, BASE.port, timeout=30, source_address=(HOOK_ADDRESS, 0))
        try:
            conn.request("POST", f"{page_url.path}", body=form, headers={"content-type": "application/x-www-form-urlencoded"})
            response = conn.getresponse()
            response.read()
            callback = urllib.parse.urlsplit(response.getheader("location") or "")
        finally:
            conn.close()
        done = call("GET", f"{callback.path}?{callback.query}", None, {"cookie": binding})
        if done.status != 302:
            return None
        for _ in range(100):
            account = call("GET", "/v1/account", None, bearer)
            buypass = (account.body or {}).get("home_office", {}).get("buypass", {})
            if buypass.get("status") == "active":
                serial = buypass["serial_number"]
                # The issuer id is in the gateway's activation event.
                events = call("GET", "/dev/gateway/events").body or []
                issuers = [e.get("issuer_id") for e in events if e.get("serial_number") == serial]
                if not issuers:
                    return None
                _card.append((issuers[-1], serial))
                return _card[0]
            time.sleep(0.1)
        return None


def operation_id(operation) -> str:
    raw = getattr(getattr(operation, "definition", None), "raw", None) or {}
    return raw.get("operationId", getattr(operation, "label", ""))


# ---- sign-in for generated cases ---------------------------------------------------------------


@schemathesis.auth(refresh_interval=None)
class PortalAuth:
    def get(self, case, context):
        op = operation_id(context.operation)
        if op in GATEWAY:
            return ("gateway", GATEWAY_KEY, None)
        if op in BEARER or op in REFRESH:
            session = POOLS[op].current()
            return ("refresh" if op in REFRESH else "bearer", None, session)
        return None

    def set(self, case, data, context):
        kind, key, session = data
        if kind == "gateway":
            case.headers = {**(case.headers or {}), "X-Gateway-Key": key}
        elif kind == "bearer":
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {session.access_token}"}
        elif kind == "refresh":
            case.cookies = {**(case.cookies or {}), REFRESH_COOKIE: session.cookie}


# ---- per-operation source addresses ------------------------------------------------------------

_local = threading.local()
_original_get_conn = urllib3.connectionpool.HTTPConnectionPool._get_conn


def _get_conn(self, timeout=None):
    conn = _original_get_conn(self, timeout)
    wanted = getattr(_local, "source", None)
    if wanted is not None and conn.source_address != (wanted, 0):
        # A kept-alive connection from another operation's address: reconnect from ours.
        conn.close()
        conn.source_address = (wanted, 0)
    return conn


urllib3.connectionpool.HTTPConnectionPool._get_conn = _get_conn


def address_of(op: str) -> str:
    index = OPERATION_IDS.index(op) if op in OPERATION_IDS else len(OPERATION_IDS)
    return f"127.0.1.{index + 1}"


# ---- real secrets in some generated cases ------------------------------------------------------

_counters: dict[str, int] = {}
_injected: dict[str, dict] = {}  # case id -> what was put in
_state_lock = threading.Lock()


def _turn(op: str, every: int, at_most: int) -> bool:
    """True for every `every`-th case of `op`, at most `at_most` times."""
    with _state_lock:
        n = _counters.get(op, 0)
        _counters[op] = n + 1
        return n % every == 0 and n // every < at_most


PASSWORD_FIELDS = {
    "changePassword": "old_password",
    "startPhoneChange": "password",
    "startTotpEnrolment": "password",
    "removeTotp": "password",
    "startBuypassRegistration": "password",
    "reportNotMe": "password",
    "startPasskeyEnrolment": "password",
    "removePasskey": "password",
    "generateRecoveryCodes": "password",
}
# How often the real password goes in (every n-th case, at most m times): a "not me" with it
# spends the pool's account, so only a few.
PASSWORD_TURNS = {"reportNotMe": (8, 3)}
_fresh_mobiles = iter(range(1, 10_000))


def enrol_totp(session: Session) -> None:
    """Sets up an authenticator app on the session's account (start, then confirm a code),
    stepping up first with the one it has, if any."""
    bearer = {"authorization": f"Bearer {session.access_token}"}
    if session.account.totp_secret:
        step_up(session)
    started = call("POST", "/v1/account/totp", {"password": session.account.password}, bearer)
    if started.status != 200:
        log(f"enrolling an authenticator app answered {started.status}")
        return
    confirmed = call("POST", "/v1/account/totp/confirm", {"code": totp_now(started.body["secret"])}, bearer)
    if confirmed.status != 204:
        log(f"confirming the authenticator app answered {confirmed.status}")
        return
    session.account.totp_secret = started.body["secret"]


def step_up(session: Session) -> None:
    """Proves the account's app on the session (the next step's code: the current one may be
    used up by the confirmation)."""
    secret = session.account.totp_secret
    if not secret:
        return
    bearer = {"authorization": f"Bearer {session.access_token}"}
    answer = call("POST", "/v1/account/step-up", {"totp_code": totp_now(secret, 1)}, bearer)
    if answer.status != 200:
        log(f"stepping up answered {answer.status}")


def _inject(op: str, case) -> dict | None:
    if op in GATEWAY and isinstance(case.path_parameters, dict) and _turn(op, 2, 10):
        card = registered_card()
        if card and isinstance(case.path_parameters.get("serial"), str):
            issuer_id, serial = card
            # The canonical spelling, and (every other time) the colon-separated lower case one.
            if _counters[op] % 4 == 1:
                serial = ":".join(serial[i : i + 2] for i in range(0, len(serial), 2)).lower()
            case.path_parameters["serial"] = serial
            if "issuer_id" in case.path_parameters:
                case.path_parameters["issuer_id"] = issuer_id
            return {"serial": serial, "issuer_id": issuer_id}
        return None
    if op == "endSession" and isinstance(case.path_parameters, dict) and _turn(op, 3, 5):
        # A real session of the pool's account, other than the one making the request.
        account = POOLS[op].current().account
        spare = sign_in(account)
        listed = call("GET", "/v1/account/sessions", None, {"authorization": f"Bearer {spare.access_token}"})
        ids = [s["id"] for s in (listed.body or {}).get("sessions", []) if s.get("current")]
        if ids:
            case.path_parameters["session_id"] = ids[0]
            return {"account": account}
        return None
    body = case.body if isinstance(case.body, dict) else None
    if body is None:
        return None
    if op in PASSWORD_FIELDS and isinstance(body.get(PASSWORD_FIELDS[op]), str) and _turn(op, *PASSWORD_TURNS.get(op, (2, 40))):
        session = POOLS[op].current()
        body[PASSWORD_FIELDS[op]] = session.account.password
        if op == "removeTotp":
            # Something to remove (otherwise every case is 404 `not_enrolled`): set up an app,
            # and prove it (the removal needs a fresh second factor besides the password).
            enrol_totp(session)
            step_up(session)
        return {"account": session.account, "new_password": body.get("new_password")}
    if op in ("verifySmsCode", "resendSmsCode", "smsDeliveryStatus") and isinstance(body.get("challenge_id"), str) and _turn(op, 3, 6):
        account = POOLS[op].account()
        try:
            challenge, code = open_challenge(account)
        except CannotSignIn:
            account.spent = True
            return None
        body["challenge_id"] = challenge
        # Every other verify gets the right code (200 and a session), the rest a wrong one.
        if op == "verifySmsCode" and isinstance(body.get("code"), str) and _counters[op] % 2 == 1:
            body["code"] = code
        return {"account": account}
    if op == "resetPassword" and isinstance(body.get("challenge_id"), str) and isinstance(body.get("code"), str) and _turn(op, 3, 6):
        account = POOLS[op].account()
        forgot = call("POST", "/v1/auth/password/forgot", {"username": account.username})
        if forgot.status != 202:
            return None
        body["challenge_id"] = forgot.body["challenge_id"]
        body["code"] = newest_code(account.mobile)
        # Generated passwords are mostly "weak" (repetitive): every other time a strong one.
        if isinstance(body.get("new_password"), str) and _counters[op] % 2 == 1:
            body["new_password"] = f"blåbær syltetøy på vaffel {_counters[op]}"
        return {"account": account, "new_password": body.get("new_password")}
    if op == "confirmPhoneChange" and isinstance(body.get("challenge_id"), str) and isinstance(body.get("code"), str) and _turn(op, 3, 4):
        session = POOLS[op].current()
        mobile = f"+4746{next(_fresh_mobiles):06d}"
        started = call(
            "POST",
            "/v1/account/phone",
            {"new_mobile": mobile, "password": session.account.password},
            {"authorization": f"Bearer {session.access_token}"},
        )
        if started.status != 200:
            return None
        body["challenge_id"] = started.body["challenge_id"]
        body["code"] = newest_code(mobile)
        return {"account": session.account, "mobile": mobile}
    if op == "stepUp" and isinstance(body.get("totp_code"), str) and _turn(op, 3, 6):
        # A code from the account's app (set up on first use); a code of a step already used
        # (two cases within 30 seconds) is refused like a wrong one.
        session = POOLS[op].current()
        if not session.account.totp_secret:
            enrol_totp(session)
        if not session.account.totp_secret:
            return None
        body["totp_code"] = totp_now(session.account.totp_secret, 1)
        return {"account": session.account}
    if op == "confirmTotpEnrolment" and isinstance(body.get("code"), str) and _turn(op, 3, 3):
        session = POOLS[op].current()
        started = call(
            "POST",
            "/v1/account/totp",
            {"password": session.account.password},
            {"authorization": f"Bearer {session.access_token}"},
        )
        if started.status != 200:
            return None
        body["code"] = totp_now(started.body["secret"])
        return {"account": session.account}
    return None


@schemathesis.hook
def before_call(context, case, kwargs):
    op = operation_id(context.operation)
    _local.source = address_of(op)
    case_id = getattr(case, "id", None) or str(id(case))
    with _state_lock:
        if case_id in _injected:
            return
    try:
        injected = _inject(op, case)
    except (CannotSignIn, OSError, KeyError, RuntimeError) as e:
        log(f"{op}: could not put real values in: {e}")
        injected = None
    if injected is not None:
        with _state_lock:
            _injected[case_id] = injected


def _header(response, name: str) -> str | None:
    value = response.headers.get(name) or response.headers.get(name.title())
    if isinstance(value, list):
        return value[0] if value else None
    return value


@schemathesis.hook
def after_call(context, case, response):
    op = operation_id(context.operation)
    status = response.status_code
    case_id = getattr(case, "id", None) or str(id(case))
    with _state_lock:
        injected = _injected.get(case_id)
    if injected is not None:
        problem = ""
        if status >= 400:
            try:
                problem = " " + str(json.loads(response.content).get("code"))
            except (ValueError, AttributeError, TypeError):
                pass
        log(f"{op}: real values in, answered {status}{problem}")
    # What a success changed.
    if injected and op == "reportNotMe" and status == 200:
        # Every session ended and a new password is required: the account is of no more use.
        injected["account"].spent = True
        if POOLS[op].session is not None:
            POOLS[op].invalidate(POOLS[op].session)
    if injected and status == 204:
        if op in ("changePassword", "resetPassword") and isinstance(injected.get("new_password"), str):
            injected["account"].password = injected["new_password"]
        if op == "confirmPhoneChange":
            injected["account"].mobile = injected["mobile"]
        if op == "removeTotp":
            injected["account"].totp_secret = None
    # Sessions that ended.
    pool = POOLS.get(op)
    if pool is None or pool.session is None:
        return
    session = pool.session
    if op in BEARER:
        sent = (case.headers or {}).get("Authorization")
        if sent == f"Bearer {session.access_token}" and (status == 401 or (op == "logout" and status == 204)):
            pool.invalidate(session)
    elif op in REFRESH:
        sent = (case.cookies or {}).get(REFRESH_COOKIE)
        if sent != session.cookie:
            return
        if status == 200:
            cookie = _header(response, "set-cookie")
            if cookie:
                session.cookie = cookie.split(";")[0].split("=", 1)[1]
        elif status == 401:
            pool.invalidate(session)


if __name__ == "__main__":
    # `python portal_hooks.py accounts`: the accounts to create, one "username mobile" a line.
    for username, mobile in accounts():
        print(username, mobile)
