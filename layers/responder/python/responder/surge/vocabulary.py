"""The words customers use for the same failure, gathered into concepts, so that "card declined", "payment
rejected", "can't pay" and "no me deja pagar" give one incident the same terms.

Written for this project from everyday support vocabulary (English, Spanish, French, German, Portuguese,
Italian); not learned from any data set. A concept is named `~name`. Words are matched after accent folding and
the light stemming of `incidents.py` (`_stem`), so each entry lists the stem and a few common forms; a typo of
one letter in a word of five letters or more still finds its entry (`concept_of`).

The concepts say what failed (`~pay`, `~login`, `~delivery`, `~refund`, `~app`) and that something failed
(`~fail`). Device names, openers and tails say nothing about which failure a mention is about: they are left out
of the terms (`CHATTER`).
"""

from __future__ import annotations

_CONCEPTS: dict[str, str] = {
    "~pay": """
        pay paid paying payment checkout card credit debit visa mastercard amex paypal applepay gpay klarna billing
        bill billed charge charged transaction purchase buy bought buying cart basket
        pago pagar pague pagando pagos tarjeta cobro cobrar cobraron cobrado descont compra comprar pasarela carrito
        paiement payer carte achat acheter panier zahlung bezahlen bezahlt karte kasse warenkorb
        pagamento cartao carrinho comprar carta acquisto pagare
    """,
    "~fail": """
        fail failed failing failure error errors broken broke declin declined reject rejected refus refused deny
        denied stuck crash crashed crashing freez frozen spin spinning spins hang hanging hangs down dead bug
        glitch wont cant cannot unable doesnt didnt isnt wasnt aint never nothing timeout timed invalid
        falla fallo fallid fallida falló funciona imposible denegad denegada rechaz rechaza rechazada bloquead
        echec echoue erreur impossible bloque fehler kaputt abgelehnt funktioniert falha erro recusad errore
        rifiutat bloccat
    """,
    "~login": """
        login log logged logging signin logon password passcode verification verify twofactor otp 2fa sms
        credential credentials authentication authenticat auth locked lockout unlock access profile
        sesion contrasena acceder ingresar connexion connecter identifiant anmelden anmeldung passwort kennwort
        senha entrar accedere
    """,
    "~delivery": """
        delivery deliver delivered parcel package courier tracking track shipped shipping shipment
        envio paquete entrega repartidor livraison colis livreur lieferung paket zusteller entregue encomenda
        consegna pacco corriere
    """,
    "~order": "order ordered orders pedido pedidos commande bestellung encomenda ordine",
    "~refund": "refund refunded reimburse reembolso devolucion remboursement rembourser ruckerstattung rimborso",
    "~app": "app apps application website site web webpage aplicacion appli anwendung applicazione",
}
# How a holding statement names what failed (English; the other languages' statements do not name it).
SAID_AS = {"~pay": "payments", "~login": "signing in", "~delivery": "deliveries", "~order": "orders",
           "~refund": "refunds", "~app": "the app"}
CONCEPT: dict[str, str] = {word: name for name, words in _CONCEPTS.items() for word in words.split()}

# Words that open, close or colour a complaint, and the devices it was sent from: they differ from one customer
# to the next and say nothing about which failure it is.
CHATTER = frozenset("""
ugh wtf omg lol lmao smh psa hey hello seriously literally honestly actually basically anyone else
ridiculous annoying joke patience happy fix fixed sort sorted update updates asap pls plz come great nope
again still every single whole keep keeps kept trying tried try tries third second twice told say says said
iphone android pixel galaxy samsung ipad laptop chrome safari firefox edge mac macbook oneplus xiaomi huawei
windows ios tablet desktop computer phone mobile pc work
otra vez serio vaya alguien mas verdad hola arreglen arreglenlo verguenza desastre solucion pasa siempre
""".split())


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))}


def _extra_letter(word: str) -> set[str]:
    """The word without one letter that looks added by a slip: a doubled letter ("paymment") or a last letter
    ("charges"). A letter inside a word that doubles nothing makes another word ("playing"/"paying",
    "changing"/"hanging", "brought"/"bought"), so it is not taken for a slip."""
    last = len(word) - 1
    return {word[:i] + word[i + 1:] for i in range(len(word))
            if i == last or (i > 0 and word[i] == word[i - 1]) or (i < last and word[i] == word[i + 1])}


def _swaps(word: str) -> set[str]:
    return {word[:i] + word[i + 1] + word[i] + word[i + 2:] for i in range(len(word) - 1)}


# One-letter slips: a letter dropped ("pament"), doubled or added at the end ("paymment", "charges"), or two letters
# swapped ("paymnet"). A changed letter is not one: it turns words into other words ("saying"/"paying",
# "change"/"charge"); nor is a letter added inside a word ("playing"/"paying").
_DROPPED: dict[str, str] = {}
for _word, _name in sorted(CONCEPT.items()):
    if len(_word) >= 5:
        for _variant in _deletions(_word):
            _DROPPED.setdefault(_variant, _name)
_TYPO_MAX_LETTERS = 20


def concept_of(word: str, stem: str) -> str | None:
    """The concept of a folded word (or its stem), allowing one slip in words of five letters or more; the work
    is linear in the word's length (capped)."""
    found = CONCEPT.get(word) or CONCEPT.get(stem)
    if found or len(word) < 5 or len(word) > _TYPO_MAX_LETTERS:
        return found
    if word in _DROPPED:
        return _DROPPED[word]
    for variant in (*_extra_letter(word), *_swaps(word)):
        if len(variant) >= 5 and variant in CONCEPT:
            return CONCEPT[variant]
    return None
