import {
  create,
  createFileRegistry,
  toBinary,
  type DescField,
  type DescMessage,
  type MessageInitShape,
} from "@bufbuild/protobuf";
import { nestedTypes } from "@bufbuild/protobuf/reflect";
import {
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
  FieldDescriptorProtoSchema,
  FileDescriptorProtoSchema,
} from "@bufbuild/protobuf/wkt";
import { protoFiles, UserSchema } from "@polyrpc/proto";
import { describe, expect, it } from "vitest";
import { binaryEncoder } from "./binary-encoder.js";

type Field = MessageInitShape<typeof FieldDescriptorProtoSchema>;

const scalarTypes: Array<[string, Type]> = [
  ["d", Type.DOUBLE],
  ["f", Type.FLOAT],
  ["i64", Type.INT64],
  ["u64", Type.UINT64],
  ["i32", Type.INT32],
  ["fx64", Type.FIXED64],
  ["fx32", Type.FIXED32],
  ["b", Type.BOOL],
  ["s", Type.STRING],
  ["by", Type.BYTES],
  ["u32", Type.UINT32],
  ["sf32", Type.SFIXED32],
  ["sf64", Type.SFIXED64],
  ["si32", Type.SINT32],
  ["si64", Type.SINT64],
];

function allTypesFields(): Field[] {
  const fields: Field[] = [];
  scalarTypes.forEach(([name, type], i) => {
    fields.push({ name, number: i + 1, type });
    fields.push({ name: `r_${name}`, number: i + 101, type, label: Label.REPEATED });
    fields.push({ name: `o_${name}`, number: i + 201, type, proto3Optional: true, oneofIndex: i + 1 });
  });
  fields.push(
    { name: "e", number: 30, type: Type.ENUM, typeName: ".t.Kind" },
    { name: "r_e", number: 130, type: Type.ENUM, typeName: ".t.Kind", label: Label.REPEATED },
    { name: "unpacked", number: 131, type: Type.INT32, label: Label.REPEATED, options: { packed: false } },
    { name: "child", number: 40, type: Type.MESSAGE, typeName: ".t.Child" },
    { name: "children", number: 41, type: Type.MESSAGE, typeName: ".t.Child", label: Label.REPEATED },
    { name: "self", number: 42, type: Type.MESSAGE, typeName: ".t.All" },
    { name: "c_s", number: 50, type: Type.STRING, oneofIndex: 0 },
    { name: "c_child", number: 51, type: Type.MESSAGE, typeName: ".t.Child", oneofIndex: 0 },
    { name: "c_i64", number: 52, type: Type.INT64, oneofIndex: 0 },
    { name: "big_tag", number: 536_870_911, type: Type.INT32 },
  );
  return fields;
}

const file = create(FileDescriptorProtoSchema, {
  name: "t/all.proto",
  package: "t",
  syntax: "proto3",
  enumType: [
    {
      name: "Kind",
      value: [
        { name: "KIND_UNSPECIFIED", number: 0 },
        { name: "KIND_A", number: 1 },
        { name: "KIND_NEG", number: -3 },
      ],
    },
  ],
  messageType: [
    {
      name: "All",
      field: allTypesFields(),
      oneofDecl: [{ name: "choice" }, ...scalarTypes.map(([name]) => ({ name: `_o_${name}` }))],
    },
    {
      name: "Child",
      field: [
        { name: "name", number: 1, type: Type.STRING },
        { name: "xs", number: 2, type: Type.SINT32, label: Label.REPEATED },
        { name: "parent", number: 3, type: Type.MESSAGE, typeName: ".t.All" },
      ],
    },
    {
      name: "WithMap",
      field: [
        { name: "m", number: 1, type: Type.MESSAGE, typeName: ".t.WithMap.MEntry", label: Label.REPEATED },
        { name: "n", number: 2, type: Type.INT32 },
      ],
      nestedType: [
        {
          name: "MEntry",
          options: { mapEntry: true },
          field: [
            { name: "key", number: 1, type: Type.STRING },
            { name: "value", number: 2, type: Type.INT32 },
          ],
        },
      ],
    },
    { name: "HasMap", field: [{ name: "w", number: 1, type: Type.MESSAGE, typeName: ".t.WithMap" }] },
  ],
});

const proto2 = create(FileDescriptorProtoSchema, {
  name: "t/two.proto",
  package: "t2",
  syntax: "proto2",
  messageType: [
    {
      name: "Defaults",
      field: [
        { name: "a", number: 1, type: Type.INT32, label: Label.OPTIONAL, defaultValue: "5" },
        { name: "s", number: 2, type: Type.STRING, label: Label.OPTIONAL, defaultValue: "x" },
        { name: "xs", number: 3, type: Type.INT32, label: Label.REPEATED },
      ],
    },
    { name: "Required", field: [{ name: "r", number: 1, type: Type.STRING, label: Label.REQUIRED }] },
  ],
});

const registry = createFileRegistry(
  createFileRegistry(file, () => undefined),
  createFileRegistry(proto2, () => undefined),
);
const All = registry.getMessage("t.All")!;
const Child = registry.getMessage("t.Child")!;

/** A small deterministic PRNG, so that a failure is reproducible. */
function random(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]! };
}
type Random = ReturnType<typeof random>;

const strings = [
  "",
  "a",
  "user_1",
  "héllo",
  "😀 emoji",
  "lone \ud800 surrogate",
  "\udc00",
  "x".repeat(42),
  "é".repeat(42),
  "é".repeat(43),
  "y".repeat(43),
  "z".repeat(200),
  "ü".repeat(700),
];
const int32s = [0, 1, -1, 127, 128, 300, 2 ** 31 - 1, -(2 ** 31), 16384, -123456];
const uint32s = [0, 1, 127, 128, 2 ** 28, 2 ** 32 - 1, 2 ** 31];
const int64s = [
  0n,
  1n,
  -1n,
  127n,
  128n,
  2n ** 32n,
  2n ** 35n + 5n,
  2n ** 53n + 1n,
  2n ** 63n - 1n,
  -(2n ** 63n),
  -300n,
];
const uint64s = [0n, 1n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 56n, 2n ** 64n - 1n, 2n ** 63n];
const doubles = [0, -0, 1.5, -2.25, NaN, Infinity, -Infinity, 1e308, 5e-324];
const floats = [0, -0, 1.5, -2.25, NaN, Infinity, 3.4028234663852886e38, 1e-40];

function scalarValue(field: DescField & { scalar?: number }, r: Random): unknown {
  switch (field.scalar) {
    case 1:
      return r.pick(doubles);
    case 2:
      return r.pick(floats);
    case 3:
    case 16:
    case 18:
      return r.pick(int64s);
    case 4:
    case 6:
      return r.pick(uint64s);
    case 5:
    case 15:
    case 17:
      return r.pick(int32s);
    case 7:
    case 13:
      return r.pick(uint32s);
    case 8:
      return r.next() < 0.5;
    case 9:
      return r.pick(strings);
    case 12:
      return r.pick([new Uint8Array(), new Uint8Array([0, 1, 255]), new Uint8Array(300).fill(7)]);
  }
  throw new Error(`no values for scalar ${field.scalar}`);
}

function enumValue(field: DescField, r: Random): number {
  return r.pick([...field.enum!.values.map((v) => v.number), 7]);
}

/** A message of `desc` with a random subset of its fields set to random (often edge) values. */
function fill(desc: DescMessage, r: Random, depth = 0): Record<string, unknown> {
  const message = create(desc) as unknown as Record<string, unknown>;
  for (const field of desc.fields) {
    if (r.next() < 0.3) continue;
    let value: unknown;
    switch (field.fieldKind) {
      case "scalar":
        value = scalarValue(field, r);
        break;
      case "enum":
        value = enumValue(field, r);
        break;
      case "message":
        if (depth > 2) continue;
        value = fill(field.message, r, depth + 1);
        break;
      case "list": {
        const n = Math.floor(r.next() * 4);
        value = Array.from({ length: n }, () =>
          field.listKind === "message"
            ? depth > 2
              ? create(field.message)
              : fill(field.message, r, depth + 1)
            : field.listKind === "enum"
              ? enumValue(field, r)
              : scalarValue(field, r),
        );
        break;
      }
      case "map":
        value = { k: 1, [r.pick(strings)]: 2 };
        break;
    }
    if (field.oneof) message[field.oneof.localName] = { case: field.localName, value };
    else message[field.localName] = value;
  }
  return message;
}

/** The hex of the bytes, or the error message. */
function outcome(encode: () => Uint8Array): string {
  try {
    return Buffer.from(encode()).toString("hex");
  } catch (err) {
    return `error: ${(err as Error).message}`;
  }
}

function expectSameBytes(desc: DescMessage, message: Record<string, unknown>) {
  const expected = outcome(() => toBinary(desc, message as never));
  expect(outcome(() => binaryEncoder(desc)(message as never))).toBe(expected);
}

function allMessages(): DescMessage[] {
  const out: DescMessage[] = [];
  const visit = (d: Parameters<typeof nestedTypes>[0]) => {
    for (const t of nestedTypes(d)) if (t.kind === "message") out.push(t);
  };
  for (const f of protoFiles) visit(f);
  for (const f of registry.files) visit(f);
  return out;
}

describe("binaryEncoder", () => {
  it("writes a User as the documentation's wire bytes", () => {
    const user = create(UserSchema, { id: "1", username: "ada", createdAt: 1700000000n, roles: ["user"] });
    expect(Buffer.from(binaryEncoder(UserSchema)(user)).toString("hex")).toBe(
      "0a0131" + "1203616461" + "2080e2cfaa06" + "2a0475736572",
    );
  });

  it("writes the same bytes as toBinary for random messages of every type, edge values included", () => {
    const r = random(42);
    const messages = allMessages();
    expect(messages.length).toBeGreaterThan(20);
    for (const desc of messages) {
      expectSameBytes(desc, create(desc) as never);
      for (let i = 0; i < 50; i++) expectSameBytes(desc, fill(desc, r));
    }
  });

  it("writes every scalar type at its edges, set and unset, packed and not", () => {
    const r = random(7);
    for (let i = 0; i < 500; i++) expectSameBytes(All, fill(All, r));
  });

  it("keeps proto2 defaults unset and writes them once set", () => {
    const Defaults = registry.getMessage("t2.Defaults")!;
    const message = create(Defaults) as unknown as Record<string, unknown>;
    expectSameBytes(Defaults, message);
    message.a = 5;
    message.s = "";
    message.xs = [1, -1];
    expectSameBytes(Defaults, message);
  });

  it("writes unknown fields after the known ones, as toBinary does", () => {
    const message = fill(Child, random(3));
    message.$unknown = [
      { no: 1000, wireType: 0, data: new Uint8Array([0x96, 0x01]) },
      { no: 7, wireType: 2, data: new Uint8Array([2, 0x61, 0x62]) },
    ];
    expectSameBytes(Child, message);
  });

  it("leaves what it does not cover to toBinary, with toBinary's bytes or error", () => {
    // Maps, also nested; proto2 required fields; 64-bit values given as strings or numbers.
    for (const name of ["t.WithMap", "t.HasMap"]) {
      const desc = registry.getMessage(name)!;
      expectSameBytes(desc, fill(desc, random(1)));
    }
    const Required = registry.getMessage("t2.Required")!;
    expect(() => binaryEncoder(Required)(create(Required) as never)).toThrow(/required field not set/);
    const all = create(All) as unknown as Record<string, unknown>;
    all.i64 = "123";
    all.u64 = 5;
    expectSameBytes(All, all);
    const wrong = create(All) as unknown as Record<string, unknown>;
    wrong.i32 = 1.5;
    expect(() => binaryEncoder(All)(wrong as never)).toThrow(
      /cannot encode field t.All.i32 to binary: invalid int32: 1.5/,
    );
  });

  it("grows its buffer inside nested messages without losing what came before", () => {
    const child = create(Child, { name: "é".repeat(70_000), xs: Array.from({ length: 20_000 }, (_, i) => i - 10_000) });
    const all = create(All, {
      s: "before",
      children: [child, child],
      child,
      choice: { case: "cS", value: "after" },
    } as never);
    expectSameBytes(All, all as never);
    expectSameBytes(All, create(All, { s: "small again" }) as never);
  });

  it("returns a buffer of its own for every message", () => {
    const encode = binaryEncoder(UserSchema);
    const a = encode(create(UserSchema, { id: "a" }));
    const b = encode(create(UserSchema, { id: "b".repeat(100_000) }));
    expect(Buffer.from(a).toString("hex")).toBe("0a0161");
    expect(b.byteLength).toBe(100_004);
  });
});
