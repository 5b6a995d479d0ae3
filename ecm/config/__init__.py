"""Configuration: what a plan sets and the reference data its rules name.

Owns the rules file (`rules`: read and validated whole), the reference data (`reference`:
value sets, the NYU and PQI tables, the CMS planned-admission tables in `cms_planned`),
where the project's own resources live (`paths`) and a run's dates (`dates`).

May import: `ecm.errors`, `transforms` (the population registry the rules are checked
against) and `data_contracts` (the feeds and checks the rules name). Imports no other
stage of `ecm`.
"""
