#!/usr/bin/env node
// The busbench command line. Flags come from the OPTIONS table in config.ts, so every flag
// has its environment variable and documented default in one place.
import { Command, Option } from 'commander';
import { type ConfigKey, loadConfig, OPTIONS } from './config.js';
import { BusbenchError } from './errors.js';
import { serve } from './serve.js';

const program = new Command('busbench').description(
  'Which process layout should a real-time web app deploy, and what does it cost in connections and conflicts?',
);

function addConfigOptions(command: Command): Command {
  for (const o of Object.values(OPTIONS)) {
    // No commander default: loadConfig() applies defaults after the environment.
    command.addOption(new Option(o.flag, `${o.doc} (default: ${JSON.stringify(o.default)}; env ${o.env})`));
  }
  return command;
}

addConfigOptions(
  program
    .command('serve')
    .description('start PostgreSQL (embedded unless DATABASE_URL is set) and serve one layout until Ctrl-C'),
).action(async (flags: Partial<Record<ConfigKey, string>>) => {
  const config = loadConfig(flags);
  const served = await serve(config);
  // One machine-readable line on stdout for scripts and tests; the log goes to stderr.
  console.log(
    `busbench ready ${JSON.stringify({ topology: config.topology, url: served.layout.url, bus_url: served.layout.busUrl, pid: process.pid })}`,
  );
  let signals = 0;
  const stop = (signal: string) => {
    if (++signals > 1) process.exit(130);
    console.error(`[busbench] ${signal}: answering parked polls, closing pools, stopping PostgreSQL`);
    served.stop().then(
      () => process.exit(0),
      (err: Error) => {
        console.error(`[busbench] shutdown failed: ${err.message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGHUP', () => stop('SIGHUP'));
});

program.parseAsync().catch((err: unknown) => {
  if (err instanceof BusbenchError) {
    console.error(`busbench: ${err.code}: ${err.message}`);
    process.exit(err.status < 100 ? err.status : 1);
  }
  console.error('busbench:', err);
  process.exit(1);
});
