"""The decision contract between translator and adapter (docs/contract.md).

``input.image`` (:mod:`migrate.contract.image`) and the decision document
(:mod:`migrate.contract.decision`).
"""
