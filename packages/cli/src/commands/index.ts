/** Every subcommand, in the order `nextscale help` lists them. Add new ones here. */
import { fid } from "./fid.js";
import { info } from "./info.js";
import { reconstruct } from "./reconstruct.js";
import type { Command } from "./types.js";

export const COMMANDS: Command[] = [info, fid, reconstruct];
