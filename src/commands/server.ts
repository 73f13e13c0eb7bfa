// cowrie-db server start|stop|status: keep the embedded PostgreSQL running between
// commands (for psql, or for several commands in a row).
import { Command } from 'commander';
import { action } from '../cli.js';
import { clusterStatus, startCluster, stopCluster } from '../db/cluster.js';
import { openTarget } from '../db/connect.js';
import { embeddedConfig, psqlCommand } from '../db/embedded.js';
import { out } from '../log.js';

export function serverCommand(): Command {
  const cmd = new Command('server').description('manage the embedded PostgreSQL 17 (data in $COWRIE_DB_HOME)');
  cmd
    .command('start')
    .description('start the embedded server and leave it running (commands then reuse it)')
    .action(
      action(async () => {
        const config = await embeddedConfig();
        const { port, startedHere } = await startCluster(config.cluster);
        // Opening it now (it runs, so nothing stops it at exit) creates the database psql connects to.
        await (await openTarget({ kind: 'embedded' })).close();
        out(`${startedHere ? 'started' : 'already running'}: embedded PostgreSQL on 127.0.0.1:${port}, data in ${config.cluster.dataDir}`);
        out(`connect with: ${psqlCommand(config, port)}`);
      }),
    );
  cmd
    .command('stop')
    .description('stop the embedded server')
    .action(
      action(async () => {
        const config = await embeddedConfig();
        const running = clusterStatus(config.cluster).running;
        await stopCluster(config.cluster);
        out(running ? 'stopped' : 'not running');
      }),
    );
  cmd
    .command('status')
    .description('say whether the embedded server runs, where, and how to connect')
    .option('--json', 'machine-readable output')
    .action(
      action<{ json?: boolean }>(async (opts) => {
        const config = await embeddedConfig();
        const status = clusterStatus(config.cluster);
        if (opts.json) {
          out(JSON.stringify({ ...status, home: config.home, dataDir: config.cluster.dataDir }));
          return;
        }
        out(status.running ? `running on 127.0.0.1:${status.port} (pid ${status.pid})` : 'not running');
        out(`data directory: ${config.cluster.dataDir}`);
        if (status.running && status.port) out(`connect with: ${psqlCommand(config, status.port)}`);
      }),
    );
  return cmd;
}
