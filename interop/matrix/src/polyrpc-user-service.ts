#!/usr/bin/env -S node --conditions=polyrpc-source --import tsx
/**
 * polyrpc's user service as the matrix runs it: the real service (apps/user-service, its config
 * from the environment as in production), plus the interop tests' metadata echo, which the docs'
 * Go and Python clients check and which no production entry point loads.
 */
import { echoTestMetadataHook } from "@polyrpc/interop-grpc-testing";
import { exitOnSignals } from "@polyrpc/server-kit";
import { loadUserServiceConfig, startUserService } from "@polyrpc/user-service";

const service = await startUserService(loadUserServiceConfig(), { extraHooks: [echoTestMetadataHook()] });
exitOnSignals(() => service.stop(), service.log);
