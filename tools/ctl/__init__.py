"""reactorctl's parts: ``syntax`` (command text -> payloads), ``actions`` (commands as
actions on a client), ``output`` (tables, JSON, the pager), ``failure`` (what a failed
command says), ``formats`` (printed records read back), ``records`` (a whole input read
and checked), ``apply`` (sending it in order), ``load`` (load and del --from),
``removal`` (flush), ``saving`` (save and restore), ``resolve`` (route get and its
nexthop), ``progress`` (the status line), ``fullview_load`` (the synthetic full view)."""
