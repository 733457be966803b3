import type { Command } from 'commander';
import { dumpYaml } from '@kubernetes/client-node';
import { crds } from '../model/crd.js';

/** The CRDs as one multi-document YAML stream (the content of deploy/crds.yaml). */
export function crdsYaml(): string {
  return crds.map((c) => dumpYaml(c, { noRefs: true, lineWidth: -1 })).join('---\n');
}

export function registerManifestsCommand(program: Command): void {
  program
    .command('crds')
    .description('print the CustomResourceDefinitions (YAML) on stdout')
    .action(() => {
      process.stdout.write(crdsYaml());
    });
}
