// Forms checked before they are sent, by the API's own rules (forms.json, generated from the
// request models: see core/http/console_forms.py), in words a person reads; and the API's 422
// details turned into the same words, next to the field they are about.
import { ApiError } from "./api";
import rules from "./forms.json";

type FieldRule = { minLength?: number; maxLength?: number; pattern?: string; description?: string };
type Form = { required: string[]; fields: Record<string, FieldRule> };
export type FormName = keyof typeof rules;

const FORMS = rules as unknown as Record<FormName, Form>;

export function ruleOf(form: FormName, field: string): FieldRule {
  return FORMS[form].fields[field] ?? {};
}

/** The problem with one value, in plain words (null: fine). */
export function problem(form: FormName, field: string, label: string, value: string): string | null {
  const rule = ruleOf(form, field);
  if (!value) return FORMS[form].required.includes(field) ? `${label} is required.` : null;
  if (rule.minLength !== undefined && value.length < rule.minLength) return `${label} needs at least ${rule.minLength} characters.`;
  if (rule.maxLength !== undefined && value.length > rule.maxLength) return `${label} can have at most ${rule.maxLength} characters.`;
  if (rule.pattern && !new RegExp(rule.pattern).test(value)) return `${label}: ${rule.description ?? "some characters are not allowed"}.`;
  return null;
}

/** Each field's problem; the labels say how each field is named on the form. */
export function problems(form: FormName, values: Record<string, string>, labels: Record<string, string>): Record<string, string> {
  const found: Record<string, string> = {};
  for (const [field, label] of Object.entries(labels)) {
    const said = problem(form, field, label, values[field] ?? "");
    if (said) found[field] = said;
  }
  return found;
}

/** The fields a refused request names (422 `loc: ["body", field]`, or a 409 naming its field),
 * in the same words as the checks above. */
export function fieldProblems(error: unknown, form: FormName, labels: Record<string, string>, values: Record<string, string>): Record<string, string> {
  const found: Record<string, string> = {};
  if (!(error instanceof ApiError)) return found;
  for (const detail of error.details) {
    const field = String(detail.loc?.[detail.loc.length - 1] ?? "");
    if (!(field in labels)) continue;
    found[field] = problem(form, field, labels[field], values[field] ?? "") ?? `${labels[field]}: ${detail.msg ?? error.message}`;
  }
  return found;
}

/** Bring the first field with a problem into view, and put the cursor there. */
export function showFirst(ids: string[]): void {
  const first = ids.map((id) => document.getElementById(id)).find(Boolean);
  first?.scrollIntoView?.({ block: "center" });
  first?.focus();
}
