"""The datasets catalogue as DCAT-AP JSON-LD, so open-data portals can harvest it.

One ``dcat:Catalog`` listing a ``dcat:Dataset`` per catalogue row the caller may see (the
caller's view: anonymous harvesters get public datasets only), each with ``dct:title``,
``dct:license``, ``dct:publisher``, ``dct:modified`` and one ``dcat:Distribution`` per download
format the caller may take (confidential datasets have none: they are never exported).
The ``@context`` is inline, so reading the document needs no network.
"""

from __future__ import annotations

import re
from typing import Any

from geodata.access import Principal
from geodata.datasets import Dataset
from geodata.export import formats_of, may_download
from geodata.vocab import LIVE_LAYER

CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}
#: EU file-type authority table and IANA media types, as DCAT-AP asks
_FILE_TYPES = {
    "geojson": "http://publications.europa.eu/resource/authority/file-type/GEOJSON",
    "csv": "http://publications.europa.eu/resource/authority/file-type/CSV",
    "gpkg": "http://publications.europa.eu/resource/authority/file-type/GPKG",
    "json": "http://publications.europa.eu/resource/authority/file-type/JSON_LD",
}
_IANA = "http://www.iana.org/assignments/media-types/"
_SPDX_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+-]*$")


def licence_node(licence: str) -> dict[str, Any]:
    """A ``dct:LicenseDocument``: the IRI given, an SPDX id's page, or a labelled blank node
    for free text."""
    if licence.startswith(("http://", "https://")):
        return {"@id": licence, "@type": "dct:LicenseDocument"}
    if _SPDX_ID.match(licence):
        return {"@id": f"http://spdx.org/licenses/{licence}", "@type": "dct:LicenseDocument"}
    return {"@type": "dct:LicenseDocument", "rdfs:label": licence}


def _agent(name: str) -> dict[str, Any]:
    return {"@type": "foaf:Agent", "foaf:name": name}


def _modified(dataset: Dataset) -> dict[str, str]:
    return {"@value": dataset.imported_at.isoformat(timespec="seconds"), "@type": "xsd:dateTime"}


def dataset_node(
    dataset: Dataset, viewer: Principal, *, base_url: str, publisher: str
) -> dict[str, Any]:
    """One ``dcat:Dataset`` with the distributions ``viewer`` may download."""
    url = f"{base_url}/api/datasets/{dataset.id}"
    node: dict[str, Any] = {
        "@id": url,
        "@type": "dcat:Dataset",
        "dct:identifier": str(dataset.id),
        "dct:title": dataset.title,
        "dct:description": _description(dataset),
        "dct:publisher": _agent(publisher),
        "dct:modified": _modified(dataset),
        "dcat:landingPage": {"@id": url},
    }
    if dataset.attribution:
        node["dct:rightsHolder"] = _agent(dataset.attribution)
    if dataset.licence:
        node["dct:license"] = licence_node(dataset.licence)
    if may_download(viewer, dataset):
        node["dcat:distribution"] = [
            _distribution(dataset, fmt, url) for fmt in formats_of(dataset)
        ]
    return node


def _description(dataset: Dataset) -> str:
    if dataset.layer == LIVE_LAYER:
        return (
            f"Anonymised aggregate of live observations (source {dataset.source}, "
            f"{dataset.visibility}): {dataset.features} published groups of a time window and "
            "a grid cell, each of at least k devices, without device identifiers"
        )
    return (
        f"{dataset.features} features of layer {dataset.layer} "
        f"(source {dataset.source}, {dataset.visibility})"
    )


def _distribution(dataset: Dataset, fmt: str, url: str) -> dict[str, Any]:
    download = f"{url}/download?format={fmt}"
    node: dict[str, Any] = {
        "@id": download,
        "@type": "dcat:Distribution",
        "dct:title": f"{dataset.title} ({formats_of(dataset)[fmt].label})",
        "dcat:accessURL": {"@id": download},
        "dcat:downloadURL": {"@id": download},
        "dcat:mediaType": {"@id": _IANA + formats_of(dataset)[fmt].media_type.split(";")[0]},
        "dct:format": {"@id": _FILE_TYPES[fmt]},
        "dct:modified": _modified(dataset),
    }
    if dataset.licence:
        node["dct:license"] = licence_node(dataset.licence)
    return node


def catalog(
    datasets: list[Dataset], viewer: Principal, *, base_url: str, publisher: str
) -> dict[str, Any]:
    """The DCAT-AP catalogue of ``datasets`` (already those ``viewer`` may see) as JSON-LD.

    :param base_url: the public address of the twin (no trailing slash); every IRI starts
        with it.
    """
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "@id": f"{base_url}/api/datasets?f=jsonld",
        "@type": "dcat:Catalog",
        "dct:title": f"{publisher}: datasets of the digital twin",
        "dct:description": "What the twin holds, from whom, under which licence.",
        "dct:publisher": _agent(publisher),
        "foaf:homepage": {"@id": f"{base_url}/"},
        "dcat:dataset": [
            dataset_node(d, viewer, base_url=base_url, publisher=publisher) for d in datasets
        ],
    }
    if datasets:
        doc["dct:modified"] = _modified(max(datasets, key=lambda d: d.imported_at))
    return doc
