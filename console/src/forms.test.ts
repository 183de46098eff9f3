import { describe, expect, it } from "vitest";
import { ApiError } from "./api";
import { fieldProblems, problem, problems } from "./forms";

describe("problems", () => {
  it("says what is wrong in plain words, by the API's own rules", () => {
    expect(problem("agent", "name", "Name", "")).toBe("Name is required.");
    expect(problem("agent", "name", "Name", "-bad name")).toBe(
      "Name: letters, digits, _ . and -, starting with a letter or digit; unique among your agents.",
    );
    expect(problem("agent", "name", "Name", "good.name-1")).toBeNull();
    expect(problem("register", "password", "Password", "short")).toBe("Password needs at least 8 characters.");
    expect(problem("register", "email", "Email", "nobody")).toBe("Email: an email address, like name@example.com.");
    expect(problems("register", { username: "al", email: "a@example.com", password: "long enough" }, { username: "Username", email: "Email", password: "Password" }))
      .toEqual({ username: "Username needs at least 3 characters." });
  });

  it("puts a refused request's details next to their fields", () => {
    const refused = new ApiError(422, "validation_error", "invalid request body", [
      { loc: ["body", "name"], msg: "String should match pattern '^[A-Za-z0-9]...'" },
      { loc: ["body", "definition", "model"], msg: "not a model" },
    ]);
    expect(fieldProblems(refused, "agent", { name: "Name" }, { name: "bad name" })).toEqual({
      name: "Name: letters, digits, _ . and -, starting with a letter or digit; unique among your agents.",
    });
    const taken = new ApiError(409, "agent_exists", "you already have an agent named x", [{ loc: ["body", "name"], msg: "taken" }]);
    expect(fieldProblems(taken, "agent", { name: "Name" }, { name: "x" })).toEqual({ name: "Name: taken" });
  });
});
