import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Files of the throwaway PKI of one test cluster (all PEM). */
export interface ClusterPki {
  caCert: string;
  caKey: string;
  /** Serving certificate of kube-apiserver for 127.0.0.1 / localhost. */
  apiserverCert: string;
  apiserverKey: string;
  /** Client certificate in group system:masters (kubeconfig of tests and controller-manager). */
  adminCert: string;
  adminKey: string;
  /** Key pair that signs and verifies service account tokens. */
  serviceAccountKey: string;
  serviceAccountPub: string;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`openssl ${args[0]} failed (is openssl installed?): ${stderr.trim() || String(err)}`);
  }
}

/** ECDSA P-256 keys: fast to generate and accepted by every Kubernetes component. */
function newKey(dir: string, name: string): string {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', name], dir);
  return join(dir, name);
}

function signedCert(dir: string, name: string, key: string, subject: string, extensions: string): string {
  const ext = `${name}.ext`;
  writeFileSync(join(dir, ext), extensions);
  openssl(['req', '-new', '-key', key, '-subj', subject, '-out', `${name}.csr`], dir);
  openssl(
    ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-sha256', '-extfile', ext, '-out', `${name}.crt`],
    dir,
  );
  return join(dir, `${name}.crt`);
}

/** Generates a CA, the apiserver serving cert, an admin client cert and the SA signing key in `dir`. */
export function generateClusterPki(dir: string): ClusterPki {
  const caKey = newKey(dir, 'ca.key');
  openssl(['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=updog-test-cluster-ca', '-days', '2', '-sha256', '-out', 'ca.crt'], dir);
  const apiserverKey = newKey(dir, 'apiserver.key');
  const apiserverCert = signedCert(
    dir,
    'apiserver',
    apiserverKey,
    '/CN=kube-apiserver',
    'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n',
  );
  const adminKey = newKey(dir, 'admin.key');
  const adminCert = signedCert(
    dir,
    'admin',
    adminKey,
    '/O=system:masters/CN=updog-test-admin',
    'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n',
  );
  const serviceAccountKey = newKey(dir, 'sa.key');
  openssl(['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
  return {
    caCert: join(dir, 'ca.crt'),
    caKey,
    apiserverCert,
    apiserverKey,
    adminCert,
    adminKey,
    serviceAccountKey,
    serviceAccountPub: join(dir, 'sa.pub'),
  };
}
