import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { pathToString } from "@bufbuild/protobuf/reflect";
import { createValidator, type Violation } from "@bufbuild/protovalidate";
import { InvalidArgumentError } from "../errors.js";

/** Checks request messages against the protovalidate rules (`buf.validate` options) of their schema. */
export interface RequestValidator {
  /**
   * Returns when `message` satisfies every rule of `schema`. Otherwise throws an
   * InvalidArgumentError whose `field` is the first violation's path in proto names (`email`,
   * `join.room`) and whose message says what is wrong with it (`email: must be a valid email
   * address`), followed by the other violations when the whole still reads as one short sentence.
   *
   * A rule that cannot be compiled or evaluated is a bug in the schema, not in the request: that
   * error is thrown as it is, so it becomes INTERNAL.
   */
  validate<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): void;
}

/** The longest status message that lists every violation; beyond it only the first is named. */
const MAX_MESSAGE_LENGTH = 200;

/** `field: what is wrong`, or just the message for a rule on the whole message. */
function describe(violation: Violation): string {
  const path = pathToString(violation.field);
  return path === "" ? violation.message : `${path}: ${violation.message}`;
}

function statusMessage(violations: readonly Violation[]): string {
  const [first, ...rest] = violations.map(describe);
  const all = [first, ...rest].join("; ");
  if (rest.length === 0 || all.length <= MAX_MESSAGE_LENGTH) return all;
  return `${first} (and ${rest.length} more violation${rest.length > 1 ? "s" : ""})`;
}

/**
 * Creates a validator for request messages. Create one per server: protovalidate compiles the
 * rules of each message type once, on first use, and keeps them.
 */
export function createRequestValidator(): RequestValidator {
  const validator = createValidator();
  return {
    validate(schema, message) {
      const result = validator.validate(schema, message);
      switch (result.kind) {
        case "valid":
          return;
        case "invalid": {
          const [first] = result.violations;
          const field = first ? pathToString(first.field) : "";
          throw new InvalidArgumentError(statusMessage(result.violations), field === "" ? undefined : field);
        }
        case "error":
          throw result.error;
      }
    },
  };
}
