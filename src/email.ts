/** An email as Google accounts spell them; strict, because service-account emails go into request paths. */
export function isEmail(value: string): boolean {
  return /^[A-Za-z0-9._+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$/.test(value);
}
