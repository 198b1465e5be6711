import type { DescFile } from "@bufbuild/protobuf";
import { file_user_user } from "./gen/user/user_pb.js";

export * from "./gen/user/user_pb.js";

/**
 * Every generated file of the buf module. Servers hand these to reflection so that grpcurl, Postman
 * and the other tools see exactly the contract the stubs were generated from.
 */
export const protoFiles: readonly DescFile[] = [file_user_user];
