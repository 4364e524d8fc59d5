"""What Veldt Market sells. `flask seed` loads it into the shop's products table."""

PRODUCTS = [
    ("rooibos-tea", "Cederberg Rooibos Tea", 8900,
     "Loose-leaf rooibos from the Cederberg, 250 g in a resealable tin. Naturally caffeine-free."),
    ("coffee-beans", "Single-Origin Coffee Beans", 18500,
     "500 g of medium-roast Ethiopian beans, roasted weekly in Woodstock. Notes of berry and cocoa."),
    ("enamel-mug", "Enamel Camping Mug", 14900,
     "A 350 ml enamel mug with a blue rim, for the stoep or the campsite. Gets better with every chip."),
    ("beaded-bracelet", "Beaded Bracelet", 24000,
     "Hand-threaded glass beads in bright colours, made by a cooperative in KwaZulu-Natal."),
    ("wireless-earbuds", "Wireless Earbuds", 119900,
     "Bluetooth 5.3 earbuds with 28 hours of play in the pocket-sized charging case."),
    ("hiking-backpack", "Drakensberg Hiking Backpack", 89900,
     "A 35 l pack with a rain cover, hip belt and hydration sleeve, made for long days on the trail."),
    ("sunglasses", "Polarised Sunglasses", 45000,
     "UV400 polarised lenses in a light frame, for the glare off False Bay."),
    ("dotted-notebook", "Dotted Notebook", 12900,
     "A5 hardcover, 192 pages of 100 g dotted paper, an elastic band and a pencil to go with it."),
    ("water-bottle", "Steel Water Bottle", 32900,
     "Double-walled 750 ml bottle: cold for 24 hours, hot for 12. Leak-proof loop cap."),
    ("succulent-pot", "Succulent in a Terracotta Pot", 11900,
     "A hardy echeveria in a 10 cm terracotta pot. Needs sun and almost no water."),
    ("braai-tongs", "Braai Tongs", 16900,
     "45 cm stainless-steel tongs with a wooden grip, long enough to turn the boerewors without a burn."),
    ("headlamp", "Rechargeable Headlamp", 39900,
     "350 lumens, USB-C charging and a red-light mode for load-shedding evenings."),
]

DELIVERY_METHODS = {
    "collect": ("Collect in store (Cape Town)", "Ready in 2 hours", 0),
    "standard": ("Standard courier", "3 to 5 working days", 6500),
    "express": ("Express courier", "Next working day", 14900),
}

PROVINCES = ["Eastern Cape", "Free State", "Gauteng", "KwaZulu-Natal", "Limpopo", "Mpumalanga", "North West",
             "Northern Cape", "Western Cape"]
