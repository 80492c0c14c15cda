"""The last stage of every pipeline: the handler (`base.handler_factory`,
`egg:oio#default` of the `oio.event.handler_factory` group)."""
