import { startTestPostgres } from "@polyrpc/testing";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    /** The `postgres` database of the PostgreSQL server all test files share; each test creates its own database. */
    postgresAdminUrl: string;
  }
}

/**
 * One real PostgreSQL server for the whole run (initdb takes seconds): tests create a database of
 * their own on it (`createTestDatabase`). Tests that stop the server start their own.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const postgres = await startTestPostgres();
  project.provide("postgresAdminUrl", postgres.url);
  return () => postgres.destroy();
}
