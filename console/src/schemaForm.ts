// Form fields from a JSON Schema (the catalog's tool configuration schemas): one input per
// property, what each raw input means as JSON, and the errors a person can act on.

export type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  enum?: unknown[];
  items?: JsonSchema;
  default?: unknown;
  description?: string;
  title?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  anyOf?: JsonSchema[];
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
};

export type FieldKind = "text" | "integer" | "number" | "boolean" | "choice" | "list" | "json";

export interface Field {
  name: string;
  label: string;
  kind: FieldKind;
  required: boolean;
  description?: string;
  options?: string[];
  schema: JsonSchema;
}

function resolve(schema: JsonSchema, root: JsonSchema): JsonSchema {
  if (schema.$ref?.startsWith("#/$defs/")) {
    return root.$defs?.[schema.$ref.slice(8)] ?? schema;
  }
  // `X | None` from pydantic: the non-null branch
  const branches = schema.anyOf?.filter((b) => b.type !== "null");
  if (branches?.length === 1) return { ...resolve(branches[0], root), default: schema.default };
  return schema;
}

function kindOf(schema: JsonSchema): FieldKind {
  if (schema.enum?.every((v) => typeof v === "string")) return "choice";
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
  if (type === "string") return "text";
  if (type === "integer") return "integer";
  if (type === "number") return "number";
  if (type === "boolean") return "boolean";
  if (type === "array" && resolveItems(schema) === "string") return "list";
  return "json";
}

function resolveItems(schema: JsonSchema): string | undefined {
  const items = schema.items;
  return items && typeof items.type === "string" ? items.type : undefined;
}

export function fieldsOf(schema: JsonSchema): Field[] {
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties ?? {}).map(([name, raw]) => {
    const property = resolve(raw, schema);
    const kind = kindOf(property);
    return {
      name,
      label: property.title ?? name.replace(/_/g, " "),
      kind,
      required: required.has(name),
      description: property.description,
      options: kind === "choice" ? (property.enum as string[]) : undefined,
      schema: property,
    };
  });
}

/** What the form shows for a value (the inverse of `parseField`). */
export function showField(field: Field, value: unknown): string | boolean {
  if (field.kind === "boolean") return value === true;
  if (value === undefined || value === null) return "";
  if (field.kind === "list") return (value as string[]).join(", ");
  if (field.kind === "json") return JSON.stringify(value, null, 2);
  return String(value);
}

export type Parsed = { ok: true; value: unknown } | { ok: false; error: string };

/** A raw input as the JSON value it stands for; `undefined` value: left out. */
export function parseField(field: Field, raw: string | boolean): Parsed {
  if (field.kind === "boolean") return { ok: true, value: raw === true };
  const text = String(raw).trim();
  if (text === "") {
    return field.required ? { ok: false, error: "required" } : { ok: true, value: undefined };
  }
  const { minimum, maximum, minLength, maxLength } = field.schema;
  switch (field.kind) {
    case "integer":
    case "number": {
      const value = Number(text);
      if (!Number.isFinite(value)) return { ok: false, error: "not a number" };
      if (field.kind === "integer" && !Number.isInteger(value)) {
        return { ok: false, error: "a whole number" };
      }
      if (minimum !== undefined && value < minimum) return { ok: false, error: `at least ${minimum}` };
      if (maximum !== undefined && value > maximum) return { ok: false, error: `at most ${maximum}` };
      return { ok: true, value };
    }
    case "list":
      return {
        ok: true,
        value: text
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean),
      };
    case "json":
      try {
        return { ok: true, value: JSON.parse(text) };
      } catch {
        return { ok: false, error: "not valid JSON" };
      }
    case "choice":
      return field.options?.includes(text)
        ? { ok: true, value: text }
        : { ok: false, error: `one of ${field.options?.join(", ")}` };
    default:
      if (minLength !== undefined && text.length < minLength) {
        return { ok: false, error: `at least ${minLength} characters` };
      }
      if (maxLength !== undefined && text.length > maxLength) {
        return { ok: false, error: `at most ${maxLength} characters` };
      }
      return { ok: true, value: text };
  }
}

/** Every field's value as one JSON object, or the errors by field name. */
export function collect(
  fields: Field[],
  raw: Record<string, string | boolean>,
): { value: Record<string, unknown>; errors: Record<string, string> } {
  const value: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const field of fields) {
    const parsed = parseField(field, raw[field.name] ?? (field.kind === "boolean" ? false : ""));
    if (!parsed.ok) errors[field.name] = parsed.error;
    else if (parsed.value !== undefined) value[field.name] = parsed.value;
  }
  return { value, errors };
}
