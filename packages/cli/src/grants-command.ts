/**
 * `refresh-grant grants issue|list|revoke`: the first refresh token without a login flow
 * (for demos, load tests and batch provisioning), and grant administration.
 */
import { parseArgs } from 'node:util';
import { commonOptions, openServer, table, UsageError, type CliIo } from './common.ts';

export const grantsUsage = `Usage:
  refresh-grant grants issue --client ID --subject SUB --scope "openid offline_access ..." [--resource URI]...
      [--count N] [--dpop-jkt THUMBPRINT] [--issuer URL] [--db FILE|URL] [--json]
  refresh-grant grants list [--subject SUB] [--client ID] [--db FILE|URL] [--json]
  refresh-grant grants revoke (--family ID | --subject SUB | --client ID | --subject SUB --client ID)
      [--reason REASON] [--db FILE|URL] [--json]
`;

/** Runs `grants <sub>`; returns the exit code. */
export async function grantsCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  const { values } = parseArgs({
    args: rest,
    options: {
      ...commonOptions,
      client: { type: 'string' },
      subject: { type: 'string' },
      scope: { type: 'string' },
      resource: { type: 'string', multiple: true },
      count: { type: 'string' },
      family: { type: 'string' },
      reason: { type: 'string' },
      'dpop-jkt': { type: 'string' },
    },
  });
  if (values.help) return io.stdout(grantsUsage), 0;
  if (sub !== 'issue' && sub !== 'list' && sub !== 'revoke') throw new UsageError(`unknown grants command: ${sub ?? '(none)'}`);
  if (sub === 'issue') {
    if (!values.client || !values.subject || values.scope === undefined) throw new UsageError('--client, --subject and --scope are required');
    if (values.count !== undefined && !/^[1-9]\d*$/.test(values.count)) throw new UsageError('--count must be a positive whole number');
  }
  if (sub === 'revoke' && !values.family === !(values.subject || values.client)) {
    throw new UsageError('--family, or --subject and/or --client, is required');
  }
  const { store, server } = await openServer(values);
  try {
    if (sub === 'issue') {
      const count = Number(values.count ?? 1);
      for (let i = 0; i < count; i++) {
        let issued;
        try {
          issued = await server.issueGrant({ clientId: values.client!, subject: values.subject!, scope: values.scope!, resources: values.resource, dpopJkt: values['dpop-jkt'] });
        } catch (err) {
          if (err instanceof TypeError) throw new UsageError(err.message);
          throw err;
        }
        if (values.json) io.stdout(JSON.stringify(issued.tokens) + '\n');
        else io.stdout(`family: ${issued.familyId}\n${JSON.stringify(issued.tokens, null, 2)}\n`);
      }
      return 0;
    }
    if (sub === 'list') {
      const grants = await server.listGrants({ subject: values.subject, clientId: values.client, includeInactive: true });
      const rows = grants.map((g) => ({
        family_id: g.familyId,
        client_id: g.clientId,
        sub: g.subject,
        scope: g.scope,
        created_at: g.createdAt,
        last_used_at: g.lastUsedAt,
        generation: g.generation,
        dpop_bound: String(g.dpopBound),
        expires_at: g.expiresAt,
        revoked_at: g.revokedAt,
        revoked_reason: g.revokedReason,
      }));
      io.stdout(values.json ? JSON.stringify(rows) + '\n' : table(rows));
      return 0;
    }
    if (!values.family) {
      let ids: string[];
      try {
        ids = await server.revokeGrants({ subject: values.subject, clientId: values.client }, values.reason ?? 'admin');
      } catch (err) {
        if (err instanceof TypeError) throw new UsageError(err.message);
        throw err;
      }
      if (values.json) io.stdout(JSON.stringify({ revoked: ids }) + '\n');
      else io.stdout(`revoked ${ids.length} grant${ids.length === 1 ? '' : 's'}${ids.map((id) => `\n  ${id}`).join('')}\n`);
      return 0;
    }
    const revoked = await server.revokeGrant(values.family!, values.reason ?? 'admin');
    if (values.json) io.stdout(JSON.stringify({ family_id: values.family, revoked }) + '\n');
    else io.stdout(revoked ? `revoked family ${values.family}\n` : `family ${values.family} is unknown or already revoked\n`);
    return revoked ? 0 : 1;
  } finally {
    await store.close();
  }
}
