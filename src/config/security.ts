/**
 * Config schemas of the secured transport: the local broker's SASL_SSL mode (`broker.security`),
 * TLS of the Kafka clients (`kafka.ssl`) and the Schema Registry client (`schemaRegistry`). Part of
 * `configSchema` (config.ts); kept here so that file stays one screenful per section.
 */
import { z } from 'zod';

const positiveInt = z.number().int().positive();

/** What `--add-scram` and a JAAS line can carry (src/broker/security.ts checks the same). */
const scramUser = z
  .object({
    username: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 of A-Z a-z 0-9 . _ -'),
    password: z
      .string()
      .regex(/^[!#-+\--<>-Z^-~]{8,128}$/, 'must be 8-128 printable ASCII characters without space, quotes, comma, equals sign, brackets or backslash'),
  })
  .strict();

/** broker.security: the project's own broker with a SASL_SSL client listener (README "Secured Kafka"). */
export const brokerSecuritySchema = z
  .object({
    /** `plaintext` (default) or `sasl_ssl`: TLS with a generated CA, SCRAM-SHA-256/512 logins. Fixed once the data dir is formatted. */
    protocol: z.enum(['plaintext', 'sasl_ssl']).default('plaintext'),
    /** SCRAM users created when the data dir is formatted (both mechanisms each); fixed after that. */
    users: z
      .array(scramUser)
      .max(32)
      .refine((us) => new Set(us.map((u) => u.username)).size === us.length, { message: 'user names must be unique' })
      .refine((us) => !us.some((u) => u.username === 'msa-broker'), { message: 'msa-broker is the broker\u2019s own user' })
      .default([]),
    /** Days the generated CA and broker certificate are valid. */
    certDays: positiveInt.max(3650).default(825),
  })
  .strict()
  .refine((s) => s.protocol === 'plaintext' || s.users.length > 0, {
    message: 'sasl_ssl needs at least one SCRAM user in broker.security.users',
    path: ['users'],
  })
  .default({});

/**
 * kafka.ssl: false (default), true (TLS, system CAs) or `{ ca, rejectUnauthorized }` with `ca` the
 * path of a PEM file of the CA to trust (e.g. `<broker data dir>/tls/ca.pem`).
 */
export const kafkaSslSchema = z
  .union([
    z.boolean(),
    z
      .object({
        /** PEM file of the CA(s) that signed the brokers' certificates. */
        ca: z.string().min(1).nullable().default(null),
        /** Refuse brokers whose certificate does not check out (name, chain); only for debugging set false. */
        rejectUnauthorized: z.boolean().default(true),
      })
      .strict(),
  ])
  .default(false);

/** schemaRegistry: a Confluent Schema Registry REST API (README "Schema Registry"); url null = the hand-mapped ids of schemas/registry.json. */
export const schemaRegistrySchema = z
  .object({
    /** e.g. http://127.0.0.1:8081; null (default) = offline, the ids of schemas/registry.json. */
    url: z
      .string()
      .url()
      .refine((u) => /^https?:\/\//.test(u), { message: 'must be an http:// or https:// URL' })
      .nullable()
      .default(null),
    /** Subject of each topic's value schema is `<topic>-value` (TopicNameStrategy). */
    timeoutMs: positiveInt.max(120_000).default(5000),
    /** Schemas fetched by id kept in memory at most; the ids of one deployment are few. */
    maxCachedSchemas: positiveInt.max(100_000).default(1000),
    /** HTTP basic auth; null = none. */
    auth: z
      .object({ username: z.string().min(1), password: z.string().min(1) })
      .strict()
      .nullable()
      .default(null),
  })
  .strict()
  .default({});
