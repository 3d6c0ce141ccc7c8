// Passkeys (WebAuthn) in the browser: the API sends the options for `navigator.credentials`
// as JSON with binary fields in base64url (webauthn-rs), and takes the browser's credential
// back in the same shape (`RegisterPublicKeyCredential` after `create`, `PublicKeyCredential`
// after `get`: `id`, `rawId`, `type`, `response` with base64url fields). The conversion is
// done here by hand, so it works in browsers without `PublicKeyCredential.parse…FromJSON`.

/** base64url (padding optional) → ArrayBuffer. */
export function fromBase64url(text) {
  const base64 = String(text).replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes.buffer;
}

/** ArrayBuffer (or view) → base64url without padding. */
export function toBase64url(buffer) {
  const bytes = buffer instanceof ArrayBuffer ? new Uint8Array(buffer) : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** A copy of `object` without its null members (the browser's dictionaries refuse null for most). */
function withoutNulls(object) {
  return Object.fromEntries(Object.entries(object || {}).filter(([, value]) => value !== null && value !== undefined));
}

function descriptors(list) {
  return Array.isArray(list) ? list.map((d) => ({ ...withoutNulls(d), id: fromBase64url(d.id) })) : undefined;
}

/** Whether a host name is an IP address, which cannot be a WebAuthn relying party. */
function isIpAddress(host) {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(':') || host.startsWith('[');
}

/**
 * Why passkeys cannot be used on this page, or null when they can: `browser` (no WebAuthn, or
 * not a secure context) or `address` (the page is on an IP address: no relying party).
 */
export function passkeyObstacle() {
  if (typeof window === 'undefined' || typeof window.PublicKeyCredential !== 'function' || !navigator.credentials || !window.isSecureContext) {
    return 'browser';
  }
  if (isIpAddress(location.hostname)) return 'address';
  return null;
}

/** The API's creation options (`{ publicKey: … }`) as `navigator.credentials.create` takes them. */
export function creationOptions(options) {
  const json = withoutNulls(options.publicKey || options);
  const publicKey = {
    ...json,
    challenge: fromBase64url(json.challenge),
    user: { ...withoutNulls(json.user), id: fromBase64url(json.user.id) },
  };
  if (json.rp) publicKey.rp = withoutNulls(json.rp);
  if (json.authenticatorSelection) publicKey.authenticatorSelection = withoutNulls(json.authenticatorSelection);
  if (json.excludeCredentials) publicKey.excludeCredentials = descriptors(json.excludeCredentials);
  if (json.extensions) publicKey.extensions = creationExtensions(withoutNulls(json.extensions), publicKey.authenticatorSelection);
  return { publicKey };
}

/**
 * webauthn-rs asks for credProtect `userVerificationRequired` (not enforced) while the
 * ceremony only prefers user verification; Chromium refuses that pair as inconsistent
 * (NotSupportedError) and creates no passkey. As the server does not enforce the policy, the
 * next one down is asked for then: the passkey still needs user verification unless the
 * portal names it (as the login does).
 */
function creationExtensions(extensions, selection) {
  const verification = (selection && selection.userVerification) || 'preferred';
  if (extensions.credentialProtectionPolicy === 'userVerificationRequired' && verification !== 'required' && !extensions.enforceCredentialProtectionPolicy) {
    return { ...extensions, credentialProtectionPolicy: 'userVerificationOptionalWithCredentialIDList' };
  }
  return extensions;
}

/** The API's request options (`{ publicKey: … }`) as `navigator.credentials.get` takes them. */
export function requestOptions(options) {
  const json = withoutNulls(options.publicKey || options);
  const publicKey = { ...json, challenge: fromBase64url(json.challenge) };
  if (json.allowCredentials) publicKey.allowCredentials = descriptors(json.allowCredentials);
  if (json.extensions) publicKey.extensions = withoutNulls(json.extensions);
  return { publicKey };
}

/** A new credential from `navigator.credentials.create` as the API takes it. */
export function registrationJson(credential) {
  const { response } = credential;
  const transports = typeof response.getTransports === 'function' ? response.getTransports() : [];
  return {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    response: {
      attestationObject: toBase64url(response.attestationObject),
      clientDataJSON: toBase64url(response.clientDataJSON),
      transports,
    },
    extensions: {},
  };
}

/** An assertion from `navigator.credentials.get` as the API takes it. */
export function assertionJson(credential) {
  const { response } = credential;
  return {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    response: {
      authenticatorData: toBase64url(response.authenticatorData),
      clientDataJSON: toBase64url(response.clientDataJSON),
      signature: toBase64url(response.signature),
      userHandle: response.userHandle ? toBase64url(response.userHandle) : null,
    },
    extensions: {},
  };
}

/** Creates a passkey with the API's creation options; resolves to the JSON for the API. */
export async function createPasskey(options) {
  const credential = await navigator.credentials.create(creationOptions(options));
  if (!credential) throw new DOMException('no credential', 'NotAllowedError');
  return registrationJson(credential);
}

/** Signs the API's login challenge with a passkey; resolves to the JSON for the API. */
export async function usePasskey(options, signal) {
  const credential = await navigator.credentials.get({ ...requestOptions(options), signal });
  if (!credential) throw new DOMException('no credential', 'NotAllowedError');
  return assertionJson(credential);
}
