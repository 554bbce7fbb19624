// The proto3 JSON mapping the API promises, checked on messages: int64 as strings of digits,
// enums by name, Timestamps in RFC 3339 (UTC), and JSON that decodes back to the same message;
// and which message and enum types a set of answers showed with content.

import assert from "node:assert/strict";
import { ScalarType, equals, fromJson, toJson } from "@bufbuild/protobuf";
import { BudgetService } from "./gen/budget/v1/budget_pb.js";

/**
 * The proto3 JSON mapping the API promises, checked on a message's JSON as some client got it:
 * int64 fields are strings of digits, enums are names, Timestamps RFC 3339 in UTC.
 */
export function assertJsonMapping(schema, json) {
  walk(schema, json, (field, value, path) => {
    if (field.fieldKind === "scalar" && isInt64(field.scalar)) {
      assert.match(String(value), /^-?\d+$/, `${path}: int64 of digits`);
      assert.equal(typeof value, "string", `${path}: int64 as a string`);
    } else if (field.fieldKind === "enum") {
      assert.equal(typeof value, "string", `${path}: enum by name`);
      assert.ok(field.enum.values.some((v) => v.name === value), `${path}: ${value} is a value of ${field.enum.typeName}`);
    } else if (field.fieldKind === "message" && field.message.typeName === "google.protobuf.Timestamp") {
      assert.match(value, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6}|\.\d{9})?Z$/, `${path}: RFC 3339 UTC`);
    }
  });
}

/** protobuf-es's JSON of `message` keeps the mapping and decodes back to the same message. */
export function assertJsonRoundTrip(schema, message) {
  const json = toJson(schema, message);
  assertJsonMapping(schema, json);
  assert.ok(equals(schema, message, fromJson(schema, json)), `${schema.typeName}: the JSON decodes to the same message`);
}

const isInt64 = (t) => [ScalarType.INT64, ScalarType.UINT64, ScalarType.SINT64, ScalarType.FIXED64, ScalarType.SFIXED64].includes(t);

/** Calls `visit(field, value, path)` for every populated field in a message's JSON, recursively. */
function walk(schema, json, visit, path = schema.typeName) {
  for (const field of schema.fields) {
    const value = json[field.jsonName];
    // proto3 JSON may write an unset field as null.
    if (value === undefined || value === null) continue;
    const values = field.fieldKind === "list" ? value : [value];
    const kind = field.fieldKind === "list" ? field.listKind : field.fieldKind;
    const leaf = { fieldKind: kind, message: field.message, enum: field.enum, scalar: field.scalar };
    values.forEach((v, i) => {
      const at = field.fieldKind === "list" ? `${path}.${field.jsonName}[${i}]` : `${path}.${field.jsonName}`;
      visit(leaf, v, at);
      if (kind === "message" && field.message.typeName.startsWith("budget.")) walk(field.message, v, visit, at);
    });
  }
}

/** Adds to `seen` the budget.v1 message types and enum types `message` holds with content. */
export function collectTypes(schema, message, seen) {
  seen.add(schema.typeName);
  walk(schema, toJson(schema, message), (field, value) => {
    if (field.fieldKind === "message" && field.message.typeName.startsWith("budget.")) seen.add(field.message.typeName);
    if (field.fieldKind === "enum") seen.add(field.enum.typeName);
  });
}

/** Every budget.v1 message and enum type an answer of the service can hold. */
export function typesInAnswers() {
  const types = new Set();
  const visit = (schema) => {
    if (types.has(schema.typeName)) return;
    types.add(schema.typeName);
    for (const field of schema.fields) {
      if (field.message?.typeName.startsWith("budget.")) visit(field.message);
      if (field.enum) types.add(field.enum.typeName);
    }
  };
  for (const method of BudgetService.methods) visit(method.output);
  return types;
}
