import type { CallHook } from "../call-hooks.js";
import { InvalidArgumentError } from "../errors.js";
import { createRequestValidator, type RequestValidator } from "./request-validator.js";

/**
 * Enforces the `buf.validate` rules of the protos on every request message, on both runtimes,
 * before the handler sees it: a violation is INVALID_ARGUMENT naming the field, and nothing the
 * handler would have written happens. On a client stream the field is prefixed with the message's
 * place in the stream (`requests[3].email: ...`), so a caller of a bulk call knows which entry.
 */
export function validationHook(validator: RequestValidator = createRequestValidator()): CallHook {
  return {
    start(call) {
      let index = 0;
      return {
        request(message) {
          const place = index++;
          try {
            validator.validate(call.input, message as never);
          } catch (err) {
            if (call.kind !== "client_streaming" || !(err instanceof InvalidArgumentError)) throw err;
            throw new InvalidArgumentError(
              `requests[${place}].${err.message}`,
              `requests[${place}].${err.field ?? ""}`,
            );
          }
        },
      };
    },
  };
}
