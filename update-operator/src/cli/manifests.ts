import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Option, type Command } from 'commander';
import { DEFAULT_MANIFEST_OPTIONS } from '../deploy/manifests.js';

/**
 * The YAML renderer is loaded only by these commands: it needs the client library's model
 * serializer, which the controller and the agent never load (deploy/render.ts).
 */
const render = () => import('../deploy/render.js');

export function registerManifestsCommand(program: Command): void {
  program
    .command('crds')
    .description('print the CustomResourceDefinitions (YAML) on stdout')
    .action(async () => {
      process.stdout.write((await render()).crdsYaml());
    });
  program
    .command('manifests')
    .description('print a complete install (YAML) on stdout, or write every generated deploy file')
    .addOption(new Option('--namespace <ns>', 'namespace of the controller and agent').default(DEFAULT_MANIFEST_OPTIONS.namespace))
    .addOption(new Option('--image <ref>', 'container image (Dockerfile at the repository root)').default(DEFAULT_MANIFEST_OPTIONS.image))
    .option('--write <dir>', 'write crds.yaml, operator.yaml and the Helm chart under DIR (defaults only)')
    .action(async (flags: { namespace: string; image: string; write?: string }) => {
      const { deployFiles, installYaml } = await render();
      if (flags.write) {
        for (const [path, text] of Object.entries(deployFiles())) {
          mkdirSync(dirname(join(flags.write, path)), { recursive: true });
          writeFileSync(join(flags.write, path), text);
        }
        return;
      }
      process.stdout.write(installYaml({ ...DEFAULT_MANIFEST_OPTIONS, namespace: flags.namespace, image: flags.image }));
    });
}
