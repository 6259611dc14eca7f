/** Every subcommand, in the order `nextscale help` lists them. Add new ones here. */
import { bench } from "./bench.js";
import { download } from "./download.js";
import { edit } from "./edit.js";
import { fid } from "./fid.js";
import { generateCommand } from "./generate.js";
import { info } from "./info.js";
import { reconstruct } from "./reconstruct.js";
import { scaling } from "./scaling.js";
import { train } from "./train.js";
import type { Command } from "./types.js";

export const COMMANDS: Command[] = [info, download, generateCommand, edit, reconstruct, fid, train, scaling, bench];
