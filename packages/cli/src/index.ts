export { COMMANDS } from "./commands/index.js";
export { type Command, type CommandIO, UsageError } from "./commands/types.js";
export { main } from "./main.js";
