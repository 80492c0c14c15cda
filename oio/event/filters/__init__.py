"""The event agent's filters, one module per filter, each with its 7.2
`filter_factory` (named `egg:oio#<module>` in a handlers file); `base`
holds `Filter`, the base of the filters users write (docs/events.md)."""
