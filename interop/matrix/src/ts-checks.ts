import type { Driver } from "./ts-drivers.js";
import { trailingBinFor, UNKNOWN_ID, type CheckName, type Observation } from "./observation.js";

/**
 * The matrix checks over a TypeScript driver, producing the same observations as the Go and
 * Python clients' `--matrix` modes (same names, order, requests and value shapes).
 */
export async function runTsChecks(driver: Driver, prefix: string): Promise<Observation[]> {
  const observations: Observation[] = [];
  const observe = async (check: CheckName, run: () => Promise<unknown>) => {
    try {
      observations.push({ check, code: "OK", message: "", value: await run() });
    } catch (err) {
      observations.push({ check, ...driver.status(err), value: null });
    }
  };
  let id = "";
  await observe("create", async () => {
    const { user } = await driver.createUser(`${prefix}-a`);
    id = user.id;
    return { id: user.id, username: user.username, email: user.email };
  });
  await observe("get", async () => {
    const user = await driver.getUser(id);
    return { id: user.id, username: user.username };
  });
  await observe("update", async () => ({ email: (await driver.updateEmail(id, `${prefix}-a2@example.com`)).email }));
  await observe("list", async () => {
    const users = await driver.listUsers();
    return { count: users.length, containsCreated: users.some((u) => u.username === `${prefix}-a`) };
  });
  await observe("create_many", async () => ({
    count: await driver.createUsers([0, 1, 2].map((i) => `${prefix}-b${i}`)),
  }));
  await observe("chat", async () => {
    const echoes = await driver.chat(`u-${prefix}`, ["m0", "m1", "m2"]);
    return { texts: echoes.map((e) => e.text), userIds: echoes.map((e) => e.userId) };
  });
  await observe("metadata", async () => {
    const { initial, trailingBinHex } = await driver.createUser(`${prefix}-m`, {
      initial: `ascii-${prefix}`,
      trailingBin: trailingBinFor(prefix),
    });
    return { initial, trailingBinHex };
  });
  await observe("delete", async () => ({ success: await driver.deleteUser(id) }));
  await observe("get_deleted", async () => ({ id: (await driver.getUser(id)).id }));
  await observe("get_empty_id", async () => ({ id: (await driver.getUser("")).id }));
  await observe("get_unknown", async () => ({ id: (await driver.getUser(UNKNOWN_ID)).id }));
  const deadline = await driver.chatUntilDeadline(300);
  observations.push({
    check: "deadline",
    ...(deadline ? driver.status(deadline) : { code: "OK", message: "" }),
    value: null,
  });
  const cancelled = await driver.chatThenCancel(`u-${prefix}`, "c0");
  observations.push({
    check: "cancel",
    ...(cancelled.error ? driver.status(cancelled.error) : { code: "OK", message: "" }),
    value: { echoed: cancelled.echoed },
  });
  return observations;
}
