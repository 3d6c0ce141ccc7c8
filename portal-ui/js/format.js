// Display formats.

/** `+4791234567` → `+47 912 34 567`; other numbers are shown as they are. */
export function mobile(e164) {
  const match = /^\+47(\d{3})(\d{2})(\d{3})$/.exec(e164 || '');
  return match ? `+47 ${match[1]} ${match[2]} ${match[3]}` : e164 || '';
}
