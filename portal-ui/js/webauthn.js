// WebAuthn between the API's JSON (binary fields as base64url strings, as webauthn-rs writes
// and reads them) and the browser's `navigator.credentials` (binary fields as ArrayBuffers).

/** True where the browser can use passkeys at all. */
export function passkeysSupported() {
  return typeof window !== 'undefined' && 'PublicKeyCredential' in window && !!navigator.credentials;
}

function fromBase64Url(text) {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes.buffer;
}

function toBase64Url(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function withBinaryIds(list) {
  return (list || []).map((credential) => ({ ...credential, id: fromBase64Url(credential.id) }));
}

/** The API's request options → `navigator.credentials.get` → the assertion as the API takes it. */
export async function assertion(requestOptions, { signal } = {}) {
  const options = requestOptions.publicKey || requestOptions;
  const credential = await navigator.credentials.get({
    publicKey: {
      ...options,
      challenge: fromBase64Url(options.challenge),
      allowCredentials: withBinaryIds(options.allowCredentials),
    },
    signal,
  });
  const { response } = credential;
  return {
    id: credential.id,
    rawId: toBase64Url(credential.rawId),
    type: credential.type,
    response: {
      authenticatorData: toBase64Url(response.authenticatorData),
      clientDataJSON: toBase64Url(response.clientDataJSON),
      signature: toBase64Url(response.signature),
      userHandle: response.userHandle ? toBase64Url(response.userHandle) : null,
    },
    extensions: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
  };
}
