import { InvalidArgumentError } from "@polyrpc/server-kit";

const USERNAME = /^[A-Za-z0-9_.-]{3,32}$/;
// The WHATWG `input type=email` grammar, plus a dot in the domain: what users can actually receive.
const EMAIL =
  /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;
export const MIN_PASSWORD_LENGTH = 8;
/** Far beyond any real password; stops a caller from making the server hash megabytes. */
export const MAX_PASSWORD_LENGTH = 1024;
const MAX_EMAIL_LENGTH = 254;
const MAX_ID_LENGTH = 128;

/** `prefix` names where the value sits in the request, e.g. `users[3].` in a bulk create. */
export function checkUsername(username: string, prefix = ""): void {
  if (!USERNAME.test(username)) {
    throw new InvalidArgumentError(
      `${prefix}username must be 3-32 characters of letters, digits, '_', '.' or '-'`,
      `${prefix}username`,
    );
  }
}

export function checkEmail(email: string, prefix = ""): void {
  if (email.length > MAX_EMAIL_LENGTH || !EMAIL.test(email)) {
    throw new InvalidArgumentError(`${prefix}email is not a valid address`, `${prefix}email`);
  }
}

export function checkPassword(password: string, prefix = ""): void {
  const length = [...password].length;
  if (length < MIN_PASSWORD_LENGTH || length > MAX_PASSWORD_LENGTH) {
    throw new InvalidArgumentError(
      `${prefix}password must be ${MIN_PASSWORD_LENGTH}-${MAX_PASSWORD_LENGTH} characters`,
      `${prefix}password`,
    );
  }
}

export function checkId(id: string): void {
  if (id === "") throw new InvalidArgumentError("id is required", "id");
  if (id.length > MAX_ID_LENGTH) throw new InvalidArgumentError(`id must be at most ${MAX_ID_LENGTH} characters`, "id");
}

export function checkNewUser(user: { username: string; email: string; password: string }, prefix = ""): void {
  checkUsername(user.username, prefix);
  checkEmail(user.email, prefix);
  checkPassword(user.password, prefix);
}
