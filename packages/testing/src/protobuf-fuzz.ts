import {
  create,
  ScalarType,
  toBinary,
  type DescField,
  type DescMessage,
  type DescOneof,
  type DescService,
  type MessageShape,
} from "@bufbuild/protobuf";
// Only types: the caller hands in its fast-check, so that this module (and the testing entry point
// that re-exports it) needs no fast-check at run time.
import type { Arbitrary } from "fast-check";
import type fastCheck from "fast-check";

type Fc = typeof fastCheck;

/** One change to a valid encoding; positions are taken modulo the bytes' length when applied. */
export type ByteMutation =
  | { kind: "flip"; at: number; mask: number }
  | { kind: "insert"; at: number; bytes: Uint8Array }
  | { kind: "delete"; at: number; count: number }
  | { kind: "duplicate"; at: number; count: number }
  | { kind: "truncate"; at: number };

/** Bytes to decode, and how they were made (for the counterexample fast-check prints). */
export interface FuzzPayload {
  origin: "random" | "mutated";
  bytes: Uint8Array;
}

export interface ProtobufFuzzOptions {
  /** Longest run of purely random bytes (default 512). */
  maxRandomBytes?: number;
  /** How deep nested message fields are filled in (default 3). */
  maxDepth?: number;
}

/** fast-check arbitraries for the protobuf messages of a schema and the bytes a hostile client sends instead. */
export interface ProtobufFuzz {
  /** Any message of `schema`: every field set or not, at random, strings biased toward values rules accept. */
  message<D extends DescMessage>(schema: D): Arbitrary<MessageShape<D>>;
  /**
   * Random bytes: unstructured, or shaped like protobuf (tags of the schema's and other field
   * numbers, every wire type, lengths that lie, unbalanced and deeply nested groups).
   */
  randomBytes(schema: DescMessage): Arbitrary<Uint8Array>;
  /** A valid encoding of a message of `schema` (by `encode`, toBinary by default) with 1 to 4 mutations. */
  mutatedEncoding<D extends DescMessage>(
    schema: D,
    encode?: (message: MessageShape<D>) => Uint8Array,
  ): Arbitrary<Uint8Array>;
  /** Either of the two above. */
  payload<D extends DescMessage>(schema: D, encode?: (message: MessageShape<D>) => Uint8Array): Arbitrary<FuzzPayload>;
}

/**
 * Every service descriptor in a module's exports: services, the services of files, and those inside
 * arrays and namespace objects (`chatV1`, `protoFiles`), once each. Pass `import * as proto` to
 * cover every service the proto package has, including one added later.
 */
export function exportedServices(exports: object): DescService[] {
  const found = new Map<string, DescService>();
  const seen = new Set<unknown>();
  const visit = (value: unknown): void => {
    if (typeof value !== "object" || value === null || seen.has(value)) return;
    seen.add(value);
    const kind = (value as { kind?: unknown }).kind;
    if (kind === "service") found.set((value as DescService).typeName, value as DescService);
    else if (kind === "file") for (const service of (value as { services: DescService[] }).services) visit(service);
    else if (kind === undefined) Object.values(value).forEach(visit);
  };
  visit(exports);
  return [...found.values()].sort((a, b) => a.typeName.localeCompare(b.typeName));
}

/** Applies `mutations` in order to a copy of `bytes`. */
export function mutateBytes(bytes: Uint8Array, mutations: readonly ByteMutation[]): Uint8Array {
  let out: Uint8Array = Uint8Array.from(bytes);
  for (const m of mutations) {
    const at = out.length === 0 ? 0 : m.at % (m.kind === "insert" ? out.length + 1 : out.length);
    switch (m.kind) {
      case "flip":
        if (out.length > 0) out[at] = out[at]! ^ m.mask;
        break;
      case "insert":
        out = concat(out.subarray(0, at), m.bytes, out.subarray(at));
        break;
      case "delete":
        out = concat(out.subarray(0, at), out.subarray(at + m.count));
        break;
      case "duplicate":
        out = concat(out.subarray(0, at + m.count), out.subarray(at));
        break;
      case "truncate":
        out = out.subarray(0, at);
        break;
    }
  }
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

const INT32 = { min: -0x80000000, max: 0x7fffffff };
const UINT32 = { min: 0, max: 0xffffffff };
const INT64 = { min: -(2n ** 63n), max: 2n ** 63n - 1n };
const UINT64 = { min: 0n, max: 2n ** 64n - 1n };

function varint(value: bigint): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, value);
  while (v > 0x7fn) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

/** Builds the arbitraries with the caller's fast-check. */
export function protobufFuzz(fc: Fc, options: ProtobufFuzzOptions = {}): ProtobufFuzz {
  const maxRandomBytes = options.maxRandomBytes ?? 512;
  const maxDepth = options.maxDepth ?? 3;

  // Plain random text, and values of the shapes the protos' rules ask for (ids, room names, emails).
  const text = fc.oneof(
    fc.string({ unit: "binary", maxLength: 24 }),
    fc.stringMatching(/^[A-Za-z0-9_.-]{1,16}$/),
    fc.constantFrom("", "general", "ada", "ada@example.com", "correct-horse-battery"),
  );

  function scalar(type: ScalarType, longAsString: boolean): Arbitrary<unknown> {
    const long = (range: { min: bigint; max: bigint }) =>
      fc.bigInt(range).map((n) => (longAsString ? n.toString() : n));
    switch (type) {
      case ScalarType.STRING:
        return text;
      case ScalarType.BYTES:
        return fc.uint8Array({ maxLength: 24 });
      case ScalarType.BOOL:
        return fc.boolean();
      case ScalarType.INT32:
      case ScalarType.SINT32:
      case ScalarType.SFIXED32:
        return fc.integer(INT32);
      case ScalarType.UINT32:
      case ScalarType.FIXED32:
        return fc.integer(UINT32);
      case ScalarType.INT64:
      case ScalarType.SINT64:
      case ScalarType.SFIXED64:
        return long(INT64);
      case ScalarType.UINT64:
      case ScalarType.FIXED64:
        return long(UINT64);
      case ScalarType.FLOAT:
        return fc.float();
      case ScalarType.DOUBLE:
        return fc.double();
    }
  }

  /** The init value of one field (a list, a map, a message or a single value). */
  function fieldValue(field: DescField, depth: number): Arbitrary<unknown> {
    switch (field.fieldKind) {
      case "scalar":
        return scalar(field.scalar, field.longAsString);
      case "enum":
        // Open enums keep numbers they do not know.
        return fc.oneof(fc.constantFrom(...field.enum.values.map((v) => v.number)), fc.integer(INT32));
      case "message":
        return init(field.message, depth + 1);
      case "list": {
        const element =
          field.listKind === "scalar"
            ? scalar(field.scalar, field.longAsString)
            : field.listKind === "enum"
              ? fc.integer(INT32)
              : init(field.message, depth + 1);
        return fc.array(element, { maxLength: depth >= maxDepth ? 0 : 4 });
      }
      case "map": {
        const key = scalar(field.mapKey, true).map(String);
        const value =
          field.mapKind === "scalar"
            ? scalar(field.scalar, false)
            : field.mapKind === "enum"
              ? fc.integer(INT32)
              : init(field.message, depth + 1);
        return fc.dictionary(key, value, { maxKeys: depth >= maxDepth ? 0 : 3 });
      }
    }
  }

  function oneofValue(oneof: DescOneof, depth: number): Arbitrary<unknown> {
    return fc.oneof(
      fc.constant({ case: undefined }),
      ...oneof.fields.map((field) => fieldValue(field, depth).map((value) => ({ case: field.localName, value }))),
    );
  }

  /** A message init object; below maxDepth, nested messages are left unset. */
  function init(schema: DescMessage, depth: number): Arbitrary<Record<string, unknown>> {
    if (depth > maxDepth) return fc.constant({});
    const members: Record<string, Arbitrary<unknown>> = {};
    for (const member of schema.members) {
      if (member.kind === "oneof") members[member.localName] = oneofValue(member, depth);
      else members[member.localName] = fieldValue(member, depth);
    }
    // Every field may be left unset; explicit presence (proto3 optional, messages) keeps that visible.
    return fc.record(members, { requiredKeys: [] });
  }

  function message<D extends DescMessage>(schema: D): Arbitrary<MessageShape<D>> {
    return init(schema, 0).map((value) => create(schema, value as never));
  }

  const mutation: Arbitrary<ByteMutation> = fc.oneof(
    fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
    fc.record({
      kind: fc.constant("insert" as const),
      at: fc.nat(),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
    }),
    fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
    fc.record({ kind: fc.constant("duplicate" as const), at: fc.nat(), count: fc.integer({ min: 1, max: 16 }) }),
    fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  );

  function mutatedEncoding<D extends DescMessage>(
    schema: D,
    encode: (message: MessageShape<D>) => Uint8Array = (m) => toBinary(schema, m),
  ): Arbitrary<Uint8Array> {
    return fc
      .tuple(message(schema), fc.array(mutation, { minLength: 1, maxLength: 4 }))
      .map(([m, mutations]) => mutateBytes(encode(m), mutations));
  }

  function randomBytes(schema: DescMessage): Arbitrary<Uint8Array> {
    const fieldNumber = fc.oneof(
      fc.constantFrom(0, ...schema.fields.map((f) => f.number)),
      fc.integer({ min: 1, max: 2 ** 29 - 1 }),
      fc.integer({ min: 2 ** 29, max: 2 ** 32 }),
    );
    const tag = (no: number, wireType: number) => varint((BigInt(no) << 3n) | BigInt(wireType));
    const varintBytes = fc.oneof(
      fc.bigInt(UINT64).map(varint),
      // Overlong, or with no end.
      fc.array(fc.integer({ min: 0x80, max: 0xff }), { minLength: 1, maxLength: 12 }),
    );
    const { field } = fc.letrec<{ field: number[]; fields: number[] }>((tie) => ({
      fields: fc.array(tie("field"), { maxLength: 6 }).map((parts) => parts.flat()),
      field: fc.oneof(
        { depthSize: "small", withCrossShrink: true },
        fc.tuple(fieldNumber, varintBytes).map(([no, v]) => [...tag(no, 0), ...v]),
        fc.tuple(fieldNumber, fc.uint8Array({ maxLength: 8 })).map(([no, b]) => [...tag(no, 1), ...b]),
        fc.tuple(fieldNumber, fc.uint8Array({ maxLength: 4 })).map(([no, b]) => [...tag(no, 5), ...b]),
        // Length-delimited: random bytes or nested fields, behind a length that may lie.
        fc
          .tuple(
            fieldNumber,
            fc.oneof(
              fc.uint8Array({ maxLength: 16 }).map((b) => [...b]),
              tie("fields"),
            ),
            fc.integer({ min: -4, max: 4 }),
          )
          .map(([no, body, skew]) => [...tag(no, 2), ...varint(BigInt(Math.max(0, body.length + skew))), ...body]),
        // A group, closed by the right end tag, another field's, or none.
        fc
          .tuple(fieldNumber, tie("fields"), fc.constantFrom("close", "mismatch", "open"))
          .map(([no, body, end]) => [
            ...tag(no, 3),
            ...body,
            ...(end === "close" ? tag(no, 4) : end === "mismatch" ? tag(no + 1, 4) : []),
          ]),
        // The wire types protobuf never assigned.
        fc.tuple(fieldNumber, fc.constantFrom(6, 7)).map(([no, wt]) => tag(no, wt)),
      ),
    }));
    const nestedGroups = fc.tuple(fc.integer({ min: 1, max: 20_000 }), fc.boolean()).map(([depth, closed]) => {
      const open = tag(15, 3);
      const close = tag(15, 4);
      const bytes: number[] = [];
      for (let i = 0; i < depth; i++) bytes.push(...open);
      if (closed) for (let i = 0; i < depth; i++) bytes.push(...close);
      return bytes;
    });
    return fc.oneof(
      fc.uint8Array({ maxLength: maxRandomBytes }),
      fc.array(field, { maxLength: 8 }).map((parts) => Uint8Array.from(parts.flat())),
      nestedGroups.map((bytes) => Uint8Array.from(bytes)),
    );
  }

  return {
    message,
    randomBytes,
    mutatedEncoding,
    payload(schema, encode) {
      return fc.oneof(
        randomBytes(schema).map((bytes): FuzzPayload => ({ origin: "random", bytes })),
        mutatedEncoding(schema, encode).map((bytes): FuzzPayload => ({ origin: "mutated", bytes })),
      );
    },
  };
}
