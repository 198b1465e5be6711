import type { DescService } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { CallContext, ServiceHandlers } from "../call-context.js";

/**
 * On connect-node the kit's CallContext is connect's own HandlerContext: the kit's names are
 * connect's, so a handler receives connect's context as it is, with nothing built per call. This
 * line fails to compile the day the two shapes part.
 */
const sameShape: (ctx: HandlerContext) => CallContext = (ctx) => ctx;
void sameShape;

/** A service's kit handlers as connect-node's ServiceImpl (see above: the same functions). */
export function connectHandlers<S extends DescService>(handlers: Partial<ServiceHandlers<S>>): Partial<ServiceImpl<S>> {
  return handlers as Partial<ServiceImpl<S>>;
}
